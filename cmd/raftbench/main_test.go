package main

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reported extracts ops/s and the latency figures from a report.
func reported(t *testing.T, out string) (float64, map[string]time.Duration) {
	t.Helper()
	m := regexp.MustCompile(`= (\d+) ops/s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ops/s in the report:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(m[1], 64)
	lat := map[string]time.Duration{}
	for _, f := range regexp.MustCompile(`(mean|p50|p90|p99|p99\.9|max) (\S+)`).FindAllStringSubmatch(out, -1) {
		d, err := time.ParseDuration(f[2])
		if err != nil {
			t.Fatalf("latency %s = %q: %v", f[1], f[2], err)
		}
		lat[f[1]] = d
	}
	return rate, lat
}

func TestRunReportsThroughputAndOrderedLatencies(t *testing.T) {
	for _, args := range [][]string{
		{"-transport", "inmem", "-store", "inmem", "-op", "apply"},
		{"-transport", "tcp", "-store", "wal", "-op", "apply", "-dir", t.TempDir()},
		{"-transport", "inmem", "-store", "inmem", "-op", "readindex"},
		{"-transport", "inmem", "-store", "inmem", "-op", "lease"},
		{"-transport", "inmem", "-store", "inmem", "-op", "barrier"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			args := append(args, "-servers", "3", "-clients", "4", "-duration", "500ms", "-warmup", "100ms")
			if err := run(args, &out); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			rate, lat := reported(t, out.String())
			if rate <= 0 {
				t.Fatalf("ops/s %v:\n%s", rate, out.String())
			}
			order := []string{"p50", "p90", "p99", "p99.9", "max"}
			for i := 1; i < len(order); i++ {
				if lat[order[i-1]] > lat[order[i]] || lat[order[i]] == 0 {
					t.Fatalf("latencies out of order or missing: %v\n%s", lat, out.String())
				}
			}
			if strings.Contains(strings.Join(args, " "), "wal") && !strings.Contains(out.String(), "wal s2:") {
				t.Fatalf("no wal statistics in the report:\n%s", out.String())
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-servers", "0"},
		{"-clients", "0"},
		{"-duration", "0s"},
		{"-transport", "udp"},
		{"-inflight", "-1"},
		{"-store", "disk"},
		{"-op", "delete"},
		{"-nosuchflag"},
		{"extra"},
	} {
		var out bytes.Buffer
		if err := run(args, &out); !errors.Is(err, errUsage) {
			t.Errorf("run(%v) = %v, want a usage error", args, err)
		}
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var r result
	for i := 1; i <= 100; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := r.percentile(q); got != want {
			t.Errorf("percentile(%v) = %v, want %v", q, got, want)
		}
	}
}
