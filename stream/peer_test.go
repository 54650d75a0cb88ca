package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// testPeer is a real pion viewer: it receives RTP, depacketizes whole
// frames and collects DataChannel messages.
type testPeer struct {
	pc       *webrtc.PeerConnection
	conn     net.PacketConn // the peer's only UDP socket
	location string

	mu     sync.Mutex
	frames [][]byte // the first keptFrames frames from a keyframe on
	count  int      // all frames from a keyframe on
	msgs   [][]byte
	gotKey bool

	firstFrame chan struct{}
	firstMsg   chan struct{}
	once1      sync.Once
	once2      sync.Once
}

// keptFrames bounds what a test peer stores (benchmarks run many peers).
const keptFrames = 30

// dialWHEP connects a viewer to a WHEP endpoint.
func dialWHEP(t testing.TB, url, codec string) *testPeer {
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
	// NACKs and receiver reports, as a browser sends them.
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPeer{pc: pc, conn: conn, firstFrame: make(chan struct{}), firstMsg: make(chan struct{})}
	t.Cleanup(func() { _ = pc.Close(); _ = conn.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	dc, err := pc.CreateDataChannel("vidseg", nil)
	if err != nil {
		t.Fatal(err)
	}
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		p.mu.Lock()
		p.msgs = append(p.msgs, msg.Data)
		p.mu.Unlock()
		p.once2.Do(func() { close(p.firstMsg) })
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		var dep rtp.Depacketizer = &codecs.VP8Packet{}
		if codec == H264 {
			dep = &codecs.H264Packet{}
		}
		// maxLate covers a whole 720p keyframe (over 100 packets).
		sb := samplebuilder.New(2048, dep, 90000)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			sb.Push(pkt)
			for s := sb.Pop(); s != nil; s = sb.Pop() {
				p.addFrame(s.Data, codec)
			}
		}
	})
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
		t.Fatalf("WHEP POST: %s: %s", resp.Status, body)
	}
	p.location = resp.Header.Get("Location")
	if p.location == "" {
		t.Fatal("WHEP answer has no Location header")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPeer) addFrame(data []byte, codec string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gotKey {
		if !isKeyframe(data, codec) {
			return
		}
		p.gotKey = true
	}
	p.count++
	if len(p.frames) < keptFrames {
		p.frames = append(p.frames, append([]byte(nil), data...))
	}
	p.once1.Do(func() { close(p.firstFrame) })
}

func (p *testPeer) counts() (frames, msgs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count, len(p.msgs)
}

// waitFrames waits until the peer holds n frames from a keyframe on.
func (p *testPeer) waitFrames(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f, _ := p.counts(); f >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	f, m := p.counts()
	t.Fatalf("viewer got %d frames (%d messages) in %v, want %d", f, m, timeout, n)
}

func isKeyframe(data []byte, codec string) bool {
	if codec == H264 {
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

// decodeFirst decodes the first received frame with the ffmpeg CLI and
// returns it as RGB24.
func (p *testPeer) decodeFirst(t testing.TB, codec string, w, h int) []byte {
	t.Helper()
	p.mu.Lock()
	frames := append([][]byte(nil), p.frames...)
	p.mu.Unlock()
	if len(frames) == 0 {
		t.Fatal("no frames to decode")
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	format := "h264"
	if codec == H264 {
		for _, f := range frames {
			buf.Write(f)
		}
	} else {
		format = "ivf"
		writeIVF(&buf, frames, w, h)
	}
	in := filepath.Join(dir, "in."+format)
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", format, "-i", in, "-frames:v", "1",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg decode of received %s frames: %v", codec, err)
	}
	if len(out) != w*h*3 {
		t.Fatalf("decoded %d bytes, want %d", len(out), w*h*3)
	}
	return out
}

func writeIVF(w io.Writer, frames [][]byte, width, height int) {
	hdr := make([]byte, 32)
	copy(hdr, "DKIF")
	binary.LittleEndian.PutUint16(hdr[6:], 32)
	copy(hdr[8:], "VP80")
	binary.LittleEndian.PutUint16(hdr[12:], uint16(width))
	binary.LittleEndian.PutUint16(hdr[14:], uint16(height))
	binary.LittleEndian.PutUint32(hdr[16:], 30)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], uint32(len(frames)))
	w.Write(hdr)
	for i, f := range frames {
		fh := make([]byte, 12)
		binary.LittleEndian.PutUint32(fh, uint32(len(f)))
		binary.LittleEndian.PutUint64(fh[4:], uint64(i))
		w.Write(fh)
		w.Write(f)
	}
}

// ffmpegEncode compresses RGB24 frames with the ffmpeg CLI (libvpx or
// libx264) and splits the result into per-frame packets.
func ffmpegEncode(t testing.TB, codec string, frames [][]byte, w, h int) []Packet {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg CLI not installed (apt-get install ffmpeg)")
	}
	var in bytes.Buffer
	for _, f := range frames {
		in.Write(f)
	}
	args := []string{"-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h), "-r", "30", "-i", "-"}
	if codec == H264 {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-")
	} else {
		args = append(args, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "10", "-b:v", "1M", "-f", "ivf", "-")
	}
	cmd := exec.CommandContext(context.Background(), "ffmpeg", args...)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg encode: %v", err)
	}
	frameDur := time.Second / 30
	var pkts []Packet
	if codec == H264 {
		for i, au := range splitAccessUnits(out) {
			pkts = append(pkts, Packet{Data: au, PTS: time.Duration(i) * frameDur, Keyframe: isKeyframe(au, H264)})
		}
		return pkts
	}
	r := out[32:]
	for i := 0; len(r) >= 12; i++ {
		n := int(binary.LittleEndian.Uint32(r))
		f := r[12 : 12+n]
		pkts = append(pkts, Packet{Data: f, PTS: time.Duration(i) * frameDur, Keyframe: isKeyframe(f, VP8)})
		r = r[12+n:]
	}
	return pkts
}

// splitAccessUnits cuts an Annex B stream before every access unit
// delimiter or, lacking those, before each slice that starts a picture.
func splitAccessUnits(b []byte) [][]byte {
	var starts []int
	seenSlice := false
	for i := 0; i+3 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		s := i
		if s > 0 && b[s-1] == 0 {
			s--
		}
		switch typ := b[i+3] & 0x1f; {
		case typ == 7 || typ == 9: // SPS or AUD opens an access unit
			if seenSlice {
				starts = append(starts, s)
				seenSlice = false
			}
		case typ == 1 || typ == 5:
			// first_mb_in_slice == 0 (ue(v) leading bit 1) starts a picture.
			if b[i+4]&0x80 != 0 && seenSlice {
				starts = append(starts, s)
			}
			seenSlice = true
		}
	}
	var aus [][]byte
	prev := 0
	for _, s := range starts {
		aus = append(aus, b[prev:s])
		prev = s
	}
	return append(aus, b[prev:])
}

// quietLogger hides the mux's complaint when a test closes its socket.
func quietLogger() logging.LeveledLogger {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f.NewLogger("mux")
}
