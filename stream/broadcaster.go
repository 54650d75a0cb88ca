// Package stream sends one session's overlay video to many WebRTC viewers.
//
// A Broadcaster encodes each composited frame once, packetizes it once, and
// hands the packets to every viewer's own goroutine and queue, so a slow or
// vanished viewer loses frames (and waits for the next keyframe) without
// holding up anyone else. Each viewer may also open a DataChannel; messages
// sent with Broadcaster.Send reach every open channel, latest first, dropped
// rather than queued when a viewer cannot keep up.
package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Errors callers can match with errors.Is.
var (
	// ErrBadOffer means the SDP offer could not be parsed or accepted.
	ErrBadOffer = errors.New("stream: bad SDP offer")
	// ErrUnknownViewer means no viewer has the given id.
	ErrUnknownViewer = errors.New("stream: unknown viewer")
	// ErrClosed means the broadcaster was closed.
	ErrClosed = errors.New("stream: broadcaster closed")
)

// Codec names accepted in Options.Codec.
const (
	VP8  = "vp8"
	H264 = "h264"
)

const (
	clockRate = 90000
	// mtu leaves room for SRTP, TWCC and UDP/IP headers under a 1280-byte path.
	mtu = 1200
	// dataChannelHighWater bounds what one viewer's channel may hold unsent;
	// above it new metadata for that viewer is dropped.
	dataChannelHighWater = 1 << 20
)

// Packet is one encoded video frame (a VP8 frame or an H.264 access unit in
// Annex B).
type Packet struct {
	Data     []byte
	PTS      time.Duration
	Keyframe bool
}

// Encoder compresses RGB24 frames. Implementations that can force a keyframe
// on demand also implement KeyframeForcer.
type Encoder interface {
	Encode(rgb []byte, pts time.Duration) ([]Packet, error)
}

// KeyframeForcer is implemented by encoders that can make the next frame a
// keyframe; the broadcaster uses it when a viewer joins or reports loss.
type KeyframeForcer interface {
	ForceKeyframe()
}

// Options configure a Broadcaster.
type Options struct {
	// Codec is VP8 (default) or H264.
	Codec string
	// Encoder compresses frames for WriteFrame. Nil allows only WritePacket.
	Encoder Encoder
	// QueueFrames is how many frames a viewer may lag before it drops
	// to the next keyframe (default 30).
	QueueFrames int
	// ICE timeouts; zero keeps pion's defaults (5 s, 25 s, 2 s).
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
	ICEKeepaliveInterval   time.Duration
	// ConnectTimeout removes a viewer whose peer connection has not
	// connected this long after its answer, so offers that never start
	// ICE do not hold a place (default 20 s).
	ConnectTimeout time.Duration
	// Logger, when set, receives viewer lifecycle events (Info).
	Logger *slog.Logger
}

// Stats counts what a Broadcaster did.
type Stats struct {
	Viewers        int   // connected or connecting viewers now
	Frames         int64 // frames fanned out
	DroppedFrames  int64 // frame deliveries skipped for slow viewers
	DroppedMsgs    int64 // DataChannel messages skipped for slow viewers
	ViewersRemoved int64 // viewers gone (closed, failed, disconnected, deleted)
}

// Broadcaster fans one encoded video track and one metadata stream out to
// many viewers. It is safe for concurrent use.
type Broadcaster struct {
	opts       Options
	api        *webrtc.API
	capability webrtc.RTPCodecCapability
	payloader  rtp.Payloader

	keyRequest atomic.Bool

	mu      sync.Mutex
	viewers map[string]*viewer
	closed  bool
	wg      sync.WaitGroup

	frames, droppedFrames, droppedMsgs, removed atomic.Int64
}

// NewBroadcaster returns a Broadcaster for opts.
func NewBroadcaster(opts Options) (*Broadcaster, error) {
	if opts.Codec == "" {
		opts.Codec = VP8
	}
	if opts.QueueFrames <= 0 {
		opts.QueueFrames = 30
	}
	b := &Broadcaster{opts: opts, viewers: make(map[string]*viewer)}
	switch strings.ToLower(opts.Codec) {
	case VP8:
		b.capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: clockRate}
		b.payloader = &codecs.VP8Payloader{EnablePictureID: true}
	case H264:
		b.capability = webrtc.RTPCodecCapability{
			MimeType:    webrtc.MimeTypeH264,
			ClockRate:   clockRate,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		}
		b.payloader = &codecs.H264Payloader{}
	default:
		return nil, fmt.Errorf("stream: unknown codec %q (want vp8 or h264)", opts.Codec)
	}
	api, err := b.newAPI()
	if err != nil {
		return nil, err
	}
	b.api = api
	return b, nil
}

func (b *Broadcaster) newAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	c := b.capability
	c.RTCPFeedback = fb
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("stream: register codec: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("stream: interceptors: %w", err)
	}
	var se webrtc.SettingEngine
	if b.opts.ICEDisconnectedTimeout > 0 || b.opts.ICEFailedTimeout > 0 || b.opts.ICEKeepaliveInterval > 0 {
		d, f, k := b.opts.ICEDisconnectedTimeout, b.opts.ICEFailedTimeout, b.opts.ICEKeepaliveInterval
		if d <= 0 {
			d = 5 * time.Second
		}
		if f <= 0 {
			f = 25 * time.Second
		}
		if k <= 0 {
			k = 2 * time.Second
		}
		se.SetICETimeouts(d, f, k)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Codec reports the negotiated video codec name (vp8 or h264).
func (b *Broadcaster) Codec() string { return strings.ToLower(b.opts.Codec) }

// WriteFrame encodes one RGB24 frame and sends it to every viewer.
func (b *Broadcaster) WriteFrame(rgb []byte, pts time.Duration) error {
	if b.opts.Encoder == nil {
		return errors.New("stream: WriteFrame needs Options.Encoder")
	}
	if b.keyRequest.Swap(false) {
		if kf, ok := b.opts.Encoder.(KeyframeForcer); ok {
			kf.ForceKeyframe()
		}
	}
	pkts, err := b.opts.Encoder.Encode(rgb, pts)
	if err != nil {
		return fmt.Errorf("stream: encode frame at %v: %w", pts, err)
	}
	for _, p := range pkts {
		if err := b.WritePacket(p); err != nil {
			return err
		}
	}
	return nil
}

// WritePacket sends one already encoded frame to every viewer. Viewers that
// joined late or fell behind resume at the next keyframe.
func (b *Broadcaster) WritePacket(p Packet) error {
	if len(p.Data) == 0 {
		return nil
	}
	payloads := b.payloader.Payload(mtu-12, p.Data)
	if len(payloads) == 0 {
		return fmt.Errorf("stream: frame at %v yields no RTP payload", p.PTS)
	}
	ts := uint32(p.PTS.Nanoseconds() * clockRate / int64(time.Second))
	f := &frame{keyframe: p.Keyframe, pkts: make([]*rtp.Packet, len(payloads))}
	for i, pl := range payloads {
		f.pkts[i] = &rtp.Packet{
			Header: rtp.Header{
				Version:   2,
				Marker:    i == len(payloads)-1,
				Timestamp: ts,
			},
			Payload: pl,
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.frames.Add(1)
	for _, v := range b.viewers {
		if v.waitKey && !p.Keyframe {
			continue
		}
		select {
		case v.frames <- f:
			v.waitKey = false
		default:
			// The viewer's queue is full: skip it until a keyframe so it
			// resumes on a clean picture, and ask the encoder for one.
			v.waitKey = true
			b.droppedFrames.Add(1)
			b.keyRequest.Store(true)
		}
	}
	return nil
}

// Send delivers one metadata message (typically JSON) to every viewer's
// DataChannel; a viewer whose channel is backed up misses it.
func (b *Broadcaster) Send(msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, v := range b.viewers {
		select {
		case v.msgs <- msg:
		default:
			b.droppedMsgs.Add(1)
		}
	}
}

// Stats returns counters for monitoring and tests.
func (b *Broadcaster) Stats() Stats {
	b.mu.Lock()
	n := len(b.viewers)
	b.mu.Unlock()
	return Stats{
		Viewers:        n,
		Frames:         b.frames.Load(),
		DroppedFrames:  b.droppedFrames.Load(),
		DroppedMsgs:    b.droppedMsgs.Load(),
		ViewersRemoved: b.removed.Load(),
	}
}

// AddViewer answers a WebRTC offer that receives video (and optionally opens
// a DataChannel), returning the viewer id and the SDP answer with all ICE
// candidates included (no trickle, as WHEP expects).
func (b *Broadcaster) AddViewer(ctx context.Context, offer string) (id, answer string, err error) {
	if err := checkOffer(offer); err != nil {
		return "", "", err
	}
	id = newID()
	track, err := webrtc.NewTrackLocalStaticRTP(b.capability, "video", "vidseg")
	if err != nil {
		return "", "", fmt.Errorf("stream: new track: %w", err)
	}
	pc, err := b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", fmt.Errorf("stream: new peer connection: %w", err)
	}
	v := &viewer{
		id:     id,
		pc:     pc,
		track:  track,
		frames: make(chan *frame, b.opts.QueueFrames),
		msgs:   make(chan []byte, 8),
		done:   make(chan struct{}),
		// Nothing decodes before a keyframe.
		waitKey: true,
	}
	fail := func(err error) (string, string, error) {
		_ = pc.Close()
		return "", "", err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return fail(fmt.Errorf("stream: add track: %w", err))
	}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		// Stored at once: the viewer goroutine checks the ready state, and
		// an OnOpen registered here may come after the channel opened.
		v.dc.Store(dc)
	})
	// The callback may run while a failed AddViewer returns, which writes
	// the named result id: it keeps its own copy.
	vid := id
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		b.log("viewer state", "viewer", vid, "state", s.String())
		switch s {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateClosed:
			// pion calls back from its own goroutines; closing from here
			// would wait on them.
			go b.RemoveViewer(vid) //nolint:errcheck // already gone is fine
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: cannot answer: %v", ErrBadOffer, err))
	}
	if err := b.checkAnswer(ans.SDP); err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return fail(fmt.Errorf("stream: set local description: %w", err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(fmt.Errorf("stream: gathering ICE candidates: %w", ctx.Err()))
	}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fail(ErrClosed)
	}
	connectTimeout := b.opts.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = 20 * time.Second
	}
	// Set under the lock: stop (from RemoveViewer or Close) reads it.
	v.connectTimer = time.AfterFunc(connectTimeout, func() {
		if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
			return
		}
		if b.RemoveViewer(vid) == nil {
			b.log("viewer never connected; removed", "viewer", vid, "within", connectTimeout)
		}
	})
	b.viewers[id] = v
	b.wg.Add(2)
	b.mu.Unlock()
	b.keyRequest.Store(true)
	go func() { defer b.wg.Done(); v.run() }()
	go func() { defer b.wg.Done(); b.readRTCP(v, sender) }()
	b.log("viewer added", "viewer", id)
	return id, pc.LocalDescription().SDP, nil
}

// RemoveViewer ends one viewer's connection.
func (b *Broadcaster) RemoveViewer(id string) error {
	b.mu.Lock()
	v, ok := b.viewers[id]
	if ok {
		delete(b.viewers, id)
	}
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownViewer, id)
	}
	b.removed.Add(1)
	v.stop()
	b.log("viewer removed", "viewer", id)
	return nil
}

// Close ends every viewer and waits for their goroutines.
func (b *Broadcaster) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	vs := b.viewers
	b.viewers = make(map[string]*viewer)
	b.mu.Unlock()
	var errs []error
	for _, v := range vs {
		b.removed.Add(1)
		errs = append(errs, v.stop())
	}
	b.wg.Wait()
	return errors.Join(errs...)
}

// readRTCP drains the sender so interceptors (NACK, reports) run, and turns
// picture-loss reports into keyframe requests.
func (b *Broadcaster) readRTCP(v *viewer, s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				b.keyRequest.Store(true)
			}
		}
	}
}

func (b *Broadcaster) log(msg string, args ...any) {
	if b.opts.Logger != nil {
		b.opts.Logger.Info(msg, args...)
	}
}

// checkOffer parses the offer so a malformed one gets a clear message before
// any connection state is built.
func checkOffer(offer string) error {
	if strings.TrimSpace(offer) == "" {
		return fmt.Errorf("%w: empty body, want an application/sdp offer", ErrBadOffer)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media == "video" {
			return nil
		}
	}
	return fmt.Errorf("%w: no video m-line (the offer must receive video)", ErrBadOffer)
}

// checkAnswer makes sure the video section was accepted with our codec; pion
// answers port 0 when the offer lists no codec we can send.
func (b *Broadcaster) checkAnswer(answer string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return fmt.Errorf("stream: parse own answer: %w", err)
	}
	want := strings.TrimPrefix(b.capability.MimeType, "video/")
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == "rtpmap" && strings.Contains(strings.ToUpper(a.Value), strings.ToUpper(want)) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: the offer does not accept %s video", ErrBadOffer, want)
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
