package session

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Per-session metric descriptions; every series is labelled with the
// session ID and camera name.
var sessionLabels = []string{"session", "camera"}

func sessionDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc("vidseg_session_"+name, help, append(append([]string(nil), sessionLabels...), extra...), nil)
}

// sessionCollector reads every live session's counters at scrape time, so
// a deleted session's series disappear with it.
type sessionCollector struct {
	m *Manager

	sessions, sourceFPS, modelFPS, sent, dropped, modelFrames, viewers, reconnects, evts, state, prompt *prometheus.Desc
}

// Collector reads every session's counters (vidseg_session_*) at scrape
// time, for the server's own registry.
func (m *Manager) Collector() prometheus.Collector {
	return &sessionCollector{
		m:           m,
		sessions:    prometheus.NewDesc("vidseg_sessions", "Sessions open.", nil, nil),
		sourceFPS:   sessionDesc("source_fps", "Pictures sent to viewers per second (smoothed)."),
		modelFPS:    sessionDesc("model_fps", "Frames the model finished per second (smoothed)."),
		sent:        sessionDesc("frames_sent_total", "Pictures encoded and sent to viewers."),
		dropped:     sessionDesc("dropped_frames_total", "Decoded frames dropped: reason=pace (encoding fell behind the source) or model (the model was busy with an earlier frame).", "reason"),
		modelFrames: sessionDesc("model_frames_total", "Frames the model finished."),
		viewers:     sessionDesc("viewers", "WebRTC viewers connected."),
		reconnects:  sessionDesc("reconnects_total", "Times a live source was lost and reopened."),
		evts:        sessionDesc("events_total", "Analytics events raised."),
		state:       sessionDesc("state", "1 for the session's current state.", "state"),
		prompt:      sessionDesc("prompt_latency_seconds", "Time from a prompt request to the model's answer."),
	}
}

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.sourceFPS, c.modelFPS, c.sent, c.dropped, c.modelFrames, c.viewers, c.reconnects, c.evts, c.state, c.prompt} {
		ch <- d
	}
}

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	list := c.m.all()
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(len(list)))
	for _, ss := range list {
		info := ss.Status()
		l := []string{ss.ID, ss.Camera}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(l, extra...)...)
		}
		counter := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append(l, extra...)...)
		}
		gauge(c.sourceFPS, info.SourceFPS)
		gauge(c.modelFPS, info.ModelFPS)
		counter(c.sent, float64(info.FramesSent))
		counter(c.dropped, float64(info.FramesSkipped), "pace")
		counter(c.dropped, float64(ss.modelDropped.Load()), "model")
		counter(c.modelFrames, float64(info.ModelFrames))
		gauge(c.viewers, float64(info.Viewers))
		counter(c.reconnects, float64(ss.reconnects.Load()))
		counter(c.evts, float64(info.Events))
		gauge(c.state, 1, stateLabel(info.State))
		count, sum, buckets := ss.promptLatency.snapshot()
		ch <- prometheus.MustNewConstHistogram(c.prompt, count, sum, buckets, l...)
	}
}

// stateLabel keeps the state label to a few values (errors carry text).
func stateLabel(state string) string {
	for _, s := range []string{"playing", "reconnecting", "ended", "lost"} {
		if state == s || len(state) > len(s) && state[:len(s)+1] == s+":" {
			return s
		}
	}
	return "error"
}

// promptBuckets are the prompt latency histogram's upper bounds: 10ms .. 20s.
var promptBuckets = prometheus.ExponentialBuckets(0.01, 2, 12)

// latencyHistogram counts a session's prompt round trips (request to the
// model's answer); the collector reads it at scrape time.
type latencyHistogram struct {
	mu     sync.Mutex
	count  uint64
	sum    float64
	counts []uint64 // per bucket, not cumulative
}

func (h *latencyHistogram) Observe(seconds float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = make([]uint64, len(promptBuckets))
	}
	h.count++
	h.sum += seconds
	for i, ub := range promptBuckets {
		if seconds <= ub {
			h.counts[i]++
			break
		}
	}
}

func (h *latencyHistogram) snapshot() (count uint64, sum float64, buckets map[float64]uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	buckets = make(map[float64]uint64, len(promptBuckets))
	var cum uint64
	for i, ub := range promptBuckets {
		if h.counts != nil {
			cum += h.counts[i]
		}
		buckets[ub] = cum
	}
	return h.count, h.sum, buckets
}
