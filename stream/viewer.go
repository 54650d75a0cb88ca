package stream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// frame is one encoded frame, packetized once and shared by all viewers.
type frame struct {
	keyframe bool
	pkts     []*rtp.Packet
}

// viewer is one WebRTC peer. Its goroutine owns seq; waitKey is guarded by
// the broadcaster's mutex.
type viewer struct {
	id      string
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	frames  chan *frame
	msgs    chan []byte
	dc      atomic.Pointer[webrtc.DataChannel]
	waitKey bool
	seq     uint16

	// connectTimer removes a viewer that never connects; stopped with the
	// viewer so it cannot fire (and log) after the broadcaster closed.
	connectTimer *time.Timer

	done     chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// run writes queued frames and messages until stop.
func (v *viewer) run() {
	for {
		select {
		case <-v.done:
			return
		case f := <-v.frames:
			for _, p := range f.pkts {
				// Each viewer numbers its own packets so frames skipped for
				// it do not look like loss.
				q := *p
				q.SequenceNumber = v.seq
				v.seq++
				if err := v.track.WriteRTP(&q); err != nil {
					break
				}
			}
		case m := <-v.msgs:
			dc := v.dc.Load()
			if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
				continue
			}
			if dc.BufferedAmount() > dataChannelHighWater {
				continue
			}
			_ = dc.SendText(string(m)) // text, so pages get strings; a closing channel is handled by the state callback
		}
	}
}

// stop ends the goroutine and closes the peer connection once.
func (v *viewer) stop() error {
	v.stopOnce.Do(func() {
		close(v.done)
		if v.connectTimer != nil {
			v.connectTimer.Stop()
		}
		// Graceful: pion's callbacks for this connection finish before
		// the broadcaster reports it closed.
		v.stopErr = v.pc.GracefulClose()
	})
	return v.stopErr
}
