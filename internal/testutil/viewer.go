package testutil

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// KeptFrames bounds the frames a Viewer stores (benchmarks run many).
const KeptFrames = 30

// Viewer is a real pion peer watching a WHEP endpoint as a browser would:
// one UDP socket on the loopback, NACKs and receiver reports, a DataChannel.
// It depacketizes the video into whole frames from the first keyframe on
// and collects the DataChannel messages.
type Viewer struct {
	pc       *webrtc.PeerConnection
	conn     net.PacketConn // the peer's only UDP socket
	location string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when anything arrives
	codec   string        // "vp8" or "h264", once the track arrives
	packets int
	gotKey  bool
	count   int      // frames from a keyframe on
	frames  [][]byte // the first KeptFrames of them
	msgs    [][]byte
	at      []time.Time // when each message arrived
}

// DialWHEP connects a Viewer to the WHEP endpoint at url; it is closed
// when the test ends.
func DialWHEP(t testing.TB, url string) *Viewer {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Room for a keyframe burst, as browsers have.
	if uc, ok := conn.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(4 << 20)
	}
	var se webrtc.SettingEngine
	se.SetICEUDPMux(webrtc.NewICEUDPMux(quietLogger(), conn))
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	v := &Viewer{pc: pc, conn: conn, changed: make(chan struct{})}
	t.Cleanup(func() { _ = pc.Close(); _ = conn.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	dc, err := pc.CreateDataChannel("vidseg", nil)
	if err != nil {
		t.Fatal(err)
	}
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.msgs = append(v.msgs, msg.Data)
		v.at = append(v.at, time.Now())
		v.notify()
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { v.receive(tr) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, err := http.Post(url, "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP POST %s: %s: %s", url, resp.Status, body)
	}
	v.location = resp.Header.Get("Location")
	if v.location == "" {
		t.Fatal("WHEP answer has no Location header")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	return v
}

// receive reads the track until it ends.
func (v *Viewer) receive(tr *webrtc.TrackRemote) {
	codec := "vp8"
	var dep rtp.Depacketizer = &codecs.VP8Packet{}
	if strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeH264) {
		codec, dep = "h264", &codecs.H264Packet{}
	}
	v.mu.Lock()
	v.codec = codec
	v.mu.Unlock()
	// maxLate covers a whole 720p keyframe (over 100 packets).
	sb := samplebuilder.New(2048, dep, 90000)
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		sb.Push(pkt)
		v.mu.Lock()
		v.packets++
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			v.addFrame(s.Data)
		}
		v.notify()
		v.mu.Unlock()
	}
}

func (v *Viewer) addFrame(data []byte) {
	if !v.gotKey {
		if !IsKeyframe(data, v.codec) {
			return
		}
		v.gotKey = true
	}
	v.count++
	if len(v.frames) < KeptFrames {
		v.frames = append(v.frames, append([]byte(nil), data...))
	}
}

// notify wakes the waiters; v.mu is held.
func (v *Viewer) notify() {
	close(v.changed)
	v.changed = make(chan struct{})
}

// Location is the WHEP resource of this viewer (DELETE ends it).
func (v *Viewer) Location() string { return v.location }

// PeerConnection is the viewer's side of the connection.
func (v *Viewer) PeerConnection() *webrtc.PeerConnection { return v.pc }

// Close leaves as a browser tab does: the peer connection closes.
func (v *Viewer) Close() { _ = v.pc.Close() }

// Vanish drops the viewer's socket: nothing says goodbye, as when its
// network disappears.
func (v *Viewer) Vanish() { _ = v.conn.Close() }

// Counts returns the frames received from the first keyframe on and the
// DataChannel messages received.
func (v *Viewer) Counts() (frames, msgs int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.count, len(v.msgs)
}

// Packets returns how many RTP packets arrived.
func (v *Viewer) Packets() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.packets
}

// Frames returns the first KeptFrames frames from the first keyframe on,
// as the codec's elementary stream (VP8 frames or H.264 access units).
func (v *Viewer) Frames() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.frames...)
}

// Messages returns the DataChannel messages received so far.
func (v *Viewer) Messages() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.msgs...)
}

// MessagesFrom returns the messages from the n-th on and when each
// arrived.
func (v *Viewer) MessagesFrom(n int) ([][]byte, []time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n = min(n, len(v.msgs))
	return append([][]byte(nil), v.msgs[n:]...), append([]time.Time(nil), v.at[n:]...)
}

// WaitFrames waits until n frames arrived from the first keyframe on.
func (v *Viewer) WaitFrames(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	timeout = Patience(timeout)
	if !v.wait(timeout, func() bool { return v.count >= n }) {
		f, m := v.Counts()
		t.Fatalf("viewer got %d frames (%d messages) in %v, want %d", f, m, timeout, n)
	}
}

// WaitMessages waits until n DataChannel messages and some video arrived,
// and returns the messages.
func (v *Viewer) WaitMessages(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	timeout = Patience(timeout)
	if !v.wait(timeout, func() bool { return len(v.msgs) >= n && v.packets > 0 }) {
		_, m := v.Counts()
		t.Fatalf("viewer got %d messages and %d RTP packets in %v, want %d messages", m, v.Packets(), timeout, n)
	}
	return v.Messages()
}

// wait returns whether done (called with v.mu held) became true within
// timeout, checking whenever something arrives.
func (v *Viewer) wait(timeout time.Duration, done func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		v.mu.Lock()
		ok, changed := done(), v.changed
		v.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		}
	}
}

// IsKeyframe reports whether data, one frame of codec ("h264" or "vp8"),
// starts a decodable sequence.
func IsKeyframe(data []byte, codec string) bool {
	if strings.EqualFold(codec, "h264") {
		// An IDR NAL unit (type 5) anywhere in the access unit.
		for i := 0; i+3 < len(data); i++ {
			if data[i] == 0 && data[i+1] == 0 && data[i+2] == 1 && data[i+3]&0x1f == 5 {
				return true
			}
		}
		return false
	}
	return len(data) > 0 && data[0]&1 == 0
}

// quietLogger hides the mux's complaint when a test closes its socket.
func quietLogger() logging.LeveledLogger {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f.NewLogger("mux")
}
