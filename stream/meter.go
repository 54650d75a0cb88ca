package stream

import (
	"sync"
	"time"
)

// Meter measures an event rate and a latency as exponential moving averages.
// It is safe for concurrent use.
type Meter struct {
	mu      sync.Mutex
	last    time.Time
	period  float64 // seconds between events, smoothed
	latency float64 // seconds, smoothed
}

const meterSmoothing = 0.2

// Tick records one event at now that took latency from its start.
func (m *Meter) Tick(now time.Time, latency time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.last.IsZero() {
		d := now.Sub(m.last).Seconds()
		if m.period == 0 {
			m.period = d
		} else {
			m.period += meterSmoothing * (d - m.period)
		}
	}
	m.last = now
	if m.latency == 0 {
		m.latency = latency.Seconds()
	} else {
		m.latency += meterSmoothing * (latency.Seconds() - m.latency)
	}
}

// Rate returns events per second (0 before two events).
func (m *Meter) Rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.period <= 0 {
		return 0
	}
	return 1 / m.period
}

// Latency returns the smoothed latency.
func (m *Meter) Latency() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Duration(m.latency * float64(time.Second))
}
