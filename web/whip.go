package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/video"
)

// WHIP ingest (RFC 9725): a browser ("use my camera") or OBS publishes
// H.264 or VP8 over WebRTC to POST /api/whip; the video is decoded with
// FFmpeg and becomes a live session like any other, whose id is the WHIP
// resource's (Location /api/whip/{id}, also in X-Vidseg-Session). The
// session appears once the first picture is decoded. DELETE on the
// resource, or the peer going away, ends it.

const (
	maxPublishers   = 8
	maxOfferSize    = 64 << 10
	whipFirstFrame  = 20 * time.Second // a publisher that sends no picture by then is dropped
	whipQueueFrames = 4
)

// whipSource is a session.FrameSource fed by a WebRTC video track.
type whipSource struct {
	pc     *webrtc.PeerConnection
	frames chan *video.Frame
	first  chan *video.Frame // the first picture, for the session's Info

	stopOnce sync.Once
	stopped  chan struct{} // the peer is gone
	readDone chan struct{} // the track reader returned
}

func (w *whipSource) stop() {
	w.stopOnce.Do(func() { close(w.stopped) })
}

// Next returns the next picture, or io.EOF once the publisher is gone.
func (w *whipSource) Next(ctx context.Context) (*video.Frame, error) {
	select {
	case f := <-w.frames:
		return f, nil
	case <-w.stopped:
		select {
		case f := <-w.frames:
			return f, nil
		default:
		}
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close ends the peer connection and waits for the track reader.
func (w *whipSource) Close() error {
	w.stop()
	err := w.pc.Close()
	<-w.readDone
	return err
}

// put queues a picture, dropping the oldest when the session is behind:
// live video wants the newest picture, not a backlog.
func (w *whipSource) put(f *video.Frame) {
	for {
		select {
		case w.frames <- f:
			return
		default:
		}
		select {
		case old := <-w.frames:
			old.Release()
		default:
		}
	}
}

func (s *Server) whipAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("whip: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("whip: interceptors: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), nil
}

func (s *Server) handleWHIPPost(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Expose-Headers", "Location, X-Vidseg-Session")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Errorf("WHIP: content type %q: want application/sdp", ct))
		return
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferSize))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("WHIP: SDP offer: %w", err))
		return
	}
	name := r.URL.Query().Get("name")
	if len(name) > 64 {
		writeError(w, http.StatusBadRequest, errors.New("WHIP: name longer than 64 bytes"))
		return
	}
	releaseClient, err := s.limits.whip.take(r)
	if err != nil {
		writeError(w, statusOf(err), fmt.Errorf("WHIP: %w", err))
		return
	}
	s.mu.Lock()
	if s.publishers >= maxPublishers {
		s.mu.Unlock()
		releaseClient()
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("WHIP: %d publishers already; end one first", maxPublishers))
		return
	}
	s.publishers++
	s.mu.Unlock()
	// A publisher that never sends a picture is dropped after
	// whipFirstFrame, releasing both.
	release := func() {
		s.mu.Lock()
		s.publishers--
		s.mu.Unlock()
		releaseClient()
	}

	api, err := s.whipAPI()
	if err != nil {
		release()
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		release()
		writeError(w, http.StatusInternalServerError, fmt.Errorf("WHIP: %w", err))
		return
	}
	src := &whipSource{
		pc: pc, frames: make(chan *video.Frame, whipQueueFrames), first: make(chan *video.Frame, 1),
		stopped: make(chan struct{}), readDone: make(chan struct{}),
	}
	var gotTrack sync.Once
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		gotTrack.Do(func() {
			go func() {
				defer close(src.readDone)
				s.readWHIPTrack(src, tr)
			}()
		})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			src.stop()
		}
	})
	fail := func(status int, err error) {
		src.stop()
		_ = pc.Close()
		release()
		writeError(w, status, err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		fail(http.StatusInternalServerError, fmt.Errorf("WHIP: %w", err))
		return
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		fail(http.StatusBadRequest, fmt.Errorf("WHIP: bad SDP offer: %w", err))
		return
	}
	if !offersVideo(pc) {
		fail(http.StatusBadRequest, errors.New("WHIP: the offer sends no H.264 or VP8 video"))
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		fail(http.StatusBadRequest, fmt.Errorf("WHIP: answer: %w", err))
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		fail(http.StatusInternalServerError, fmt.Errorf("WHIP: %w", err))
		return
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		fail(http.StatusGatewayTimeout, errors.New("WHIP: ICE gathering timed out"))
		return
	}
	id := session.NewID()
	go s.awaitWHIP(id, name, src, release, gotTrack.Do)
	w.Header().Set("Location", "/api/whip/"+id)
	w.Header().Set("X-Vidseg-Session", id)
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, pc.LocalDescription().SDP)
}

// offersVideo reports whether a video transceiver receives H.264 or VP8.
func offersVideo(pc *webrtc.PeerConnection) bool {
	for _, t := range pc.GetTransceivers() {
		if t.Kind() != webrtc.RTPCodecTypeVideo || t.Direction() != webrtc.RTPTransceiverDirectionRecvonly {
			continue
		}
		for _, c := range t.Receiver().GetParameters().Codecs {
			if mt := strings.ToLower(c.MimeType); mt == strings.ToLower(webrtc.MimeTypeH264) || mt == strings.ToLower(webrtc.MimeTypeVP8) {
				return true
			}
		}
	}
	return false
}

// awaitWHIP starts the session once the first picture is decoded.
func (s *Server) awaitWHIP(id, name string, src *whipSource, release func(), once func(func())) {
	defer release()
	// A peer that never sends a track must still let Close finish.
	stopWaiting := func() { once(func() { close(src.readDone) }) }
	var first *video.Frame
	t := time.NewTimer(whipFirstFrame)
	defer t.Stop()
	select {
	case first = <-src.first:
	case <-src.stopped:
	case <-t.C:
		s.cfg.Logger.Info("whip: no picture; dropped", "session", id, "within", whipFirstFrame)
	case <-s.ctx.Done():
	}
	if first == nil {
		stopWaiting()
		_ = src.Close()
		return
	}
	info := decode.Info{Width: first.Width, Height: first.Height, FPS: 30, Codec: "webrtc", Live: true}
	// The session cap counts publishers too.
	ss, err := s.m.OpenStream(s.ctx, session.Stream{ID: id, Name: "whip", Camera: name, Source: src, Info: info})
	if err != nil {
		s.cfg.Logger.Info("whip failed", "session", id, "err", err)
		return // OpenStream closed src
	}
	// Hold the slot while the session reads from the publisher; once it
	// is gone the session goes too, releasing its encoder and tracker.
	select {
	case <-ss.Ended():
		s.m.Remove(id)
	case <-ss.Done():
	}
}

// readWHIPTrack depacketizes and decodes the track until the peer goes.
func (s *Server) readWHIPTrack(src *whipSource, tr *webrtc.TrackRemote) {
	mime := strings.ToLower(tr.Codec().MimeType)
	var (
		depack rtp.Depacketizer
		codec  string
	)
	switch mime {
	case strings.ToLower(webrtc.MimeTypeH264):
		depack, codec = &codecs.H264Packet{}, "h264"
	case strings.ToLower(webrtc.MimeTypeVP8):
		depack, codec = &codecs.VP8Packet{}, "vp8"
	default:
		s.cfg.Logger.Info("whip: codec not supported (want H.264 or VP8)", "codec", mime)
		src.stop()
		return
	}
	dec, err := decode.NewPacketDecoder(codec, s.m.ModelSize())
	if err != nil {
		s.cfg.Logger.Info("whip failed", "err", err)
		src.stop()
		return
	}
	defer dec.Close()
	pli := func() {
		_ = src.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
	}
	pli()
	var (
		au        []byte
		auTS      uint32
		base      uint32
		haveBase  bool
		started   bool
		lastPLI   = time.Now()
		clockRate = float64(tr.Codec().ClockRate)
	)
	if clockRate <= 0 {
		clockRate = 90000
	}
	flush := func() {
		if len(au) == 0 {
			return
		}
		if !haveBase {
			base, haveBase = auTS, true
		}
		pts := time.Duration(float64(int32(auTS-base)) / clockRate * float64(time.Second))
		frames, err := dec.Decode(au, pts)
		au = au[:0]
		if err != nil && time.Since(lastPLI) > 500*time.Millisecond {
			pli() // ask for a keyframe to recover
			lastPLI = time.Now()
		}
		for _, f := range frames {
			if !started {
				started = true
				// The session keeps this size; later pictures are scaled to it.
				dec.SetOutputSize(f.Width, f.Height)
				src.first <- f
				src.put(f)
				continue
			}
			src.put(f)
		}
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			src.stop()
			return
		}
		select {
		case <-src.stopped:
			return
		default:
		}
		if len(au) > 0 && pkt.Timestamp != auTS {
			flush() // a lost marker: the timestamp moved on
		}
		payload, err := depack.Unmarshal(pkt.Payload)
		if err != nil {
			continue
		}
		auTS = pkt.Timestamp
		au = append(au, payload...)
		if pkt.Marker {
			flush()
		}
		if !started && time.Since(lastPLI) > time.Second {
			pli() // still no picture: keep asking for a keyframe
			lastPLI = time.Now()
		}
	}
}

// handleWHIPDelete ends a publisher and its session.
func (s *Server) handleWHIPDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.m.Remove(id) {
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown WHIP resource %q", id))
		return
	}
	w.WriteHeader(http.StatusOK)
}
