package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/session"
)

// publisher is a real pion peer publishing the test clip over WHIP, looped
// at 30 fps, encoded with the codec given; sent[i] is when frame i left.
type publisher struct {
	pc       *webrtc.PeerConnection
	session  string
	location string

	mu   sync.Mutex
	sent []time.Time
}

func publishWHIP(t *testing.T, base, codec string) *publisher {
	t.Helper()
	clip := testutil.Clip(t, "moving_shape")
	d, err := decode.Open(context.Background(), clip, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rgb [][]byte
	for {
		f, err := d.Next(context.Background())
		if err != nil {
			break
		}
		rgb = append(rgb, f.RGB)
	}
	d.Close()
	mime := webrtc.MimeTypeVP8
	if codec == "h264" {
		mime = webrtc.MimeTypeH264
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, "video", "vidseg-test")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	r := call(t, "POST", base+"/api/whip?name=webcam", "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
	if r.status != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", r.status, r.body)
	}
	p := &publisher{pc: pc, session: r.header.Get("X-Vidseg-Session"), location: r.header.Get("Location")}
	if p.session == "" || p.location != "/api/whip/"+p.session {
		t.Fatalf("WHIP answer headers %v", r.header)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(r.body)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatal("publisher not connected")
	}
	enc, err := encode.NewEncoder(encode.Options{Codec: codec, Width: 320, Height: 240, FPS: 30, KeyframeInterval: 30, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; enc.Close() })
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		last := time.Now()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pkts, err := enc.Encode(rgb[i%len(rgb)], time.Duration(i)*time.Second/30)
			if err != nil {
				return
			}
			now := time.Now()
			p.mu.Lock()
			p.sent = append(p.sent, now)
			p.mu.Unlock()
			// Stamp the capture clock, as a camera does: on a loaded machine
			// ticks are missed and a fixed duration would run slow.
			dur := now.Sub(last)
			last = now
			for _, pk := range pkts {
				if err := track.WriteSample(media.Sample{Data: pk.Data, Duration: dur}); err != nil {
					return
				}
			}
		}
	}()
	return p
}

// A pion peer publishes the clip over WHIP; the server decodes it with
// FFmpeg and tracks it like any live source; a second peer watches over
// WHEP and gets the overlay of the very pictures published. The time from
// publishing a picture to receiving it with its overlay is logged.
func TestWHIPIngest(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			cfg := Config{
				ModelSize: 64,
				NewTracker: func(context.Context, session.Spec) (session.Tracker, error) {
					return &colorTracker{color: [3]byte{230, 120, 40}}, nil
				},
			}
			_, hs := newServer(t, cfg)
			pub := publishWHIP(t, hs.URL, codec)
			var info SessionInfo
			for deadline := time.Now().Add(testutil.Patience(20 * time.Second)); ; {
				r := call(t, "GET", hs.URL+"/api/sessions/"+pub.session, "", nil)
				if r.status == 200 {
					json.Unmarshal(r.body, &info)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no session %s: %d %s", pub.session, r.status, r.body)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !info.Live || info.Width != 320 || info.Height != 240 || info.Camera != "webcam" || info.Source != "whip" {
				t.Fatalf("session %+v", info)
			}
			v := watch(t, hs.URL, pub.session)
			var pr apiResult
			for deadline := time.Now().Add(testutil.Patience(20 * time.Second)); ; {
				if pr = promptOnColor(t, hs.URL, pub.session); pr.status == 200 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if pr.status != 200 {
				t.Fatalf("prompt: %d %s", pr.status, pr.body)
			}
			n := len(v.WaitMessages(t, 1, 10*time.Second))

			// Frame i of the session is published picture i (loopback loses
			// nothing), so the mask of frame i must sit on the ellipse of clip
			// frame i%64. Latencies: picture i received - sent[i], and first
			// picture carrying frame i's mask received - sent[i]. Wait for 20
			// masks (a loaded machine drops pictures and skips model frames,
			// by design).
			var all, own []time.Duration
			masked := map[int]bool{}
			for deadline := time.Now().Add(testutil.Patience(60 * time.Second)); len(own) < 20; {
				if time.Now().After(deadline) {
					t.Fatalf("only %d masks received in 60s; session %s", len(own), call(t, "GET", hs.URL+"/api/sessions/"+pub.session, "", nil).body)
				}
				time.Sleep(100 * time.Millisecond)
				msgs, at := v.MessagesFrom(n)
				n += len(msgs)
				pub.mu.Lock()
				sent := slices.Clone(pub.sent)
				pub.mu.Unlock()
				for k, raw := range msgs {
					var m struct {
						Frame, MaskFrame int
						Objects          []struct {
							ID      int
							Present bool
							Box     [4]float32
						}
					}
					json.Unmarshal(raw, &m)
					if m.Frame >= len(sent) {
						t.Fatalf("picture %d received, only %d published", m.Frame, len(sent))
					}
					all = append(all, at[k].Sub(sent[m.Frame]))
					if len(m.Objects) != 1 || !m.Objects[0].Present || m.MaskFrame < 0 || masked[m.MaskFrame] {
						continue
					}
					masked[m.MaskFrame] = true
					b := m.Objects[0].Box
					kk := float64(m.MaskFrame%64) / 63
					cx, cy := float64(b[0]+b[2])/2, float64(b[1]+b[3])/2
					if ex, ey := 60+200*kk, 70+100*kk; abs(cx-ex) > 12 || abs(cy-ey) > 12 {
						t.Errorf("mask of frame %d: object at (%.0f,%.0f), the published picture has it at (%.0f,%.0f)", m.MaskFrame, cx, cy, ex, ey)
					}
					own = append(own, at[k].Sub(sent[m.MaskFrame]))
				}
			}
			t.Logf("%s glass-to-glass, publish -> picture received: %s; publish -> its mask received: %s", codec, stats(all), stats(own))

			if r := call(t, "DELETE", hs.URL+pub.location, "", nil); r.status != 200 {
				t.Fatalf("WHIP DELETE: %d %s", r.status, r.body)
			}
			if r := call(t, "GET", hs.URL+"/api/sessions/"+pub.session, "", nil); r.status != 404 {
				t.Errorf("session after WHIP DELETE: %d", r.status)
			}
		})
	}
}

func abs(v float64) float64 { return max(v, -v) }

// stats summarises latencies: count, median, p90, max.
func stats(d []time.Duration) string {
	d = slices.Clone(d)
	slices.Sort(d)
	return fmt.Sprintf("n=%d median %v p90 %v max %v", len(d), d[len(d)/2].Round(time.Millisecond),
		d[len(d)*9/10].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
}

func TestWHIPBadOffers(t *testing.T) {
	_, hs := newServer(t, Config{})
	for _, c := range []struct {
		ctype, body, want string
		status            int
	}{
		{"application/json", "{}", "want application/sdp", 415},
		{"application/sdp", "v=0 garbage", "bad SDP offer", 400},
	} {
		r := call(t, "POST", hs.URL+"/api/whip", c.ctype, strings.NewReader(c.body))
		if r.status != c.status || !strings.Contains(r.errorText(t), c.want) {
			t.Errorf("%s %q: %d %s", c.ctype, c.body, r.status, r.body)
		}
	}
	if r := call(t, "DELETE", hs.URL+"/api/whip/nope", "", nil); r.status != 404 {
		t.Errorf("DELETE unknown: %d", r.status)
	}
	_ = io.EOF
}
