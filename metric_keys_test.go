package raft

import (
	"reflect"
	"testing"
)

// TestMetricKeysHaveNoSpareCapacity: the shared metric names must be full
// slices, so that a sink appending to one gets a copy instead of writing
// into an array every goroutine shares.
func TestMetricKeysHaveNoSpareCapacity(t *testing.T) {
	for _, keys := range []any{newMetricKeys(), newPeerMetricKeys("peer")} {
		v := reflect.ValueOf(keys)
		for i := range v.NumField() {
			k := v.Field(i)
			if k.Len() == 0 || k.Len() != k.Cap() {
				t.Errorf("%s.%s: len %d cap %d", v.Type().Name(), v.Type().Field(i).Name, k.Len(), k.Cap())
			}
		}
	}
}
