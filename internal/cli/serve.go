package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidseg/vidseg/autoseg"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/camera"
	"github.com/vidseg/vidseg/journal"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/store"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/web"
)

// ServeJob is one `vidseg serve` run, its flags checked.
type ServeJob struct {
	// Web holds what the flags set of the server's configuration: codec,
	// upload limit, origins, source policy, session limits, reconnects.
	Web        web.Config
	Mode       tracker.Mode
	NoStore    bool
	Resume     []string // stored session ids, or "all"
	EventsFile string
	Webhooks   []string
	Cameras    []camera.Config
	Cluster    ClusterJob
	Verbose    bool
}

// Serve opens the store and the model (playing video without tracking
// when there is none), listens, resumes stored sessions, joins or starts
// NATS, starts the cameras (or hands them to workers) and serves the web
// app until ctx ends.
func Serve(ctx context.Context, e *Env, s *Settings, j ServeJob) error {
	log := NewLogger(e.Stderr, j.Verbose)
	cfg := j.Web
	cfg.Logger = log
	for _, c := range j.Cameras {
		cfg.Cameras = append(cfg.Cameras, c.Name) // reserved: no client session takes one
	}
	sinks, closeSinks, err := OpenEventSinks(j.EventsFile, j.Webhooks, log)
	if err != nil {
		return err
	}
	defer closeSinks()
	cfg.EventSinks = sinks

	var st *store.Store
	if !j.NoStore {
		st, err = store.Open(s.Get("store"))
		if err != nil {
			if errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("%w: is another `vidseg serve` using it? pass --store FILE", err)
			}
			return err
		}
		defer st.Close()
	}

	withModel := false
	if _, err := FindModel(s); err != nil {
		fmt.Fprintf(e.Stderr, "vidseg: serve: %v\nvidseg: serve: playing video without tracking\n", err)
	} else {
		lm, err := OpenModel(s, e.Stderr, log)
		if err != nil {
			return err
		}
		defer lm.Close()
		man := lm.Manifest()
		tune, err := TrackerSettings(s)
		if err != nil {
			return err
		}
		cfg = web.ModelTrackers(cfg, sam.NewScheduler(lm.Model), j.Mode, tune)
		cfg.ModelName = man.Variant
		if lm.Choice.Random {
			cfg.ModelName += " (random weights)"
		}
		if st != nil {
			set := journal.Settings{Mode: j.Mode.String(), Model: lm.Name()}
			cfg.NewTracker = journal.Trackers(st, log, set, cfg.NewTracker)
			// Edit sessions (a file to scrub and track) too: prompts and
			// tracked frames.
			cfg.JournalFile = journal.FileTrackers(st, log, set)
		}
		withModel = true
	}

	ln, err := net.Listen("tcp", s.Get("addr"))
	if err != nil {
		return fmt.Errorf("serve: listen on %s (from %s): %w", s.Get("addr"), s.Source("addr"), err)
	}
	defer ln.Close()
	cfg.Token = s.Get("token")
	if cfg.Token == "" && !IsLoopback(ln.Addr()) {
		cfg.Token = web.NewToken()
	}
	if cfg.UploadDir, err = UploadDir(s, j.NoStore); err != nil {
		return err
	}
	if j.NoStore {
		defer os.RemoveAll(cfg.UploadDir)
	}
	if st != nil {
		// DELETE /api/sessions/{id} ends a session for good: its journal
		// goes too, so a later --resume all does not bring it back.
		cfg.Forget = ForgetIn(st)
	}
	srv, err := web.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	if len(j.Resume) > 0 {
		if !withModel {
			return ModelErr(errors.New("serve: --resume needs a model to replay prompts"))
		}
		room := cfg.MaxSessions
		if room <= 0 {
			room = session.DefaultMaxSessions
		}
		if !j.Cluster.Workers {
			room -= len(j.Cameras) // the cameras open next, under the same cap
		}
		if err := ResumeSessions(ctx, e, srv, st, j.Resume, room); err != nil {
			return err
		}
	}

	dir, err := natsDir(s, j.NoStore)
	if err != nil {
		return err
	}
	if j.NoStore {
		defer os.RemoveAll(dir)
	}
	node, err := startCluster(ctx, e, j.Cluster, dir, srv, log)
	if err != nil {
		return err
	}
	defer node.Close()

	cameras := j.Cameras
	camCtx, stopCameras := context.WithCancel(ctx)
	var cams sync.WaitGroup
	defer func() { stopCameras(); cams.Wait() }()
	if j.Cluster.Workers {
		cc, err := clusterCameras(cameras)
		if err != nil {
			return err
		}
		if err := node.bus.PutCameras(ctx, cc); err != nil {
			return fmt.Errorf("serve: cameras for the workers: %w", err)
		}
		cameras = nil
	}
	for _, c := range cameras {
		cams.Go(func() { camera.Run(camCtx, srv.Manager(), st, withModel, c, log) })
	}

	PrintURL(e.Stderr, ln.Addr(), cfg.Token)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(shutdown)
	fmt.Fprintln(e.Stderr, "vidseg: serve: stopped")
	return nil
}

// ForgetIn removes deleted sessions from st (web.Config.Forget).
func ForgetIn(st *store.Store) func(id string) error {
	return func(id string) error {
		if err := st.DeleteSession(id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	}
}

// SessionLimits reads --max-sessions, --pause-after and --idle-timeout.
func SessionLimits(s *Settings, cfg *web.Config) error {
	n, err := s.Int("max_sessions")
	if err != nil || n < 1 {
		return Usagef("max sessions %q (from %s): want a positive number", s.Get("max_sessions"), s.Source("max_sessions"))
	}
	cfg.MaxSessions = n
	for _, d := range []struct {
		key string
		to  *time.Duration
	}{{"pause_after", &cfg.PauseAfter}, {"idle_timeout", &cfg.IdleTimeout}} {
		v, err := time.ParseDuration(s.Get(d.key))
		if err != nil || v <= 0 {
			return Usagef("%s %q (from %s): want a duration such as 30s or 10m", strings.ReplaceAll(d.key, "_", " "), s.Get(d.key), s.Source(d.key))
		}
		*d.to = v
	}
	// Prompt limits: 0 turns one off (web.Config: < 0 is none, 0 the default).
	for _, d := range []struct {
		key string
		to  *time.Duration
	}{{"prompt_timeout", &cfg.PromptTimeout}, {"prompt_budget", &cfg.PromptBudget}} {
		v, err := time.ParseDuration(s.Get(d.key))
		if err != nil || v < 0 {
			return Usagef("%s %q (from %s): want a duration such as 30s, or 0 for no limit", strings.ReplaceAll(d.key, "_", " "), s.Get(d.key), s.Source(d.key))
		}
		if v == 0 {
			v = -1
		}
		*d.to = v
	}
	return nil
}

// Discovery reads --discover-every, --discover-max-objects and
// --discover-drop-after: live discovery with the generator's defaults.
func Discovery(s *Settings, cfg *web.Config) error {
	every, err := time.ParseDuration(s.Get("discover_every"))
	if err != nil || every < 0 {
		return Usagef("discover every %q (from %s): want a duration such as 10s, or 0 for off", s.Get("discover_every"), s.Source("discover_every"))
	}
	if every == 0 {
		return nil
	}
	n, err := s.Int("discover_max_objects")
	if err != nil || n < 1 || n > session.MaxEverythingObjects {
		return Usagef("discover max objects %q (from %s): want 1..%d", s.Get("discover_max_objects"), s.Source("discover_max_objects"), session.MaxEverythingObjects)
	}
	drop, err := time.ParseDuration(s.Get("discover_drop_after"))
	if err != nil || drop < 0 {
		return Usagef("discover drop after %q (from %s): want a duration such as 1m, or 0 for never", s.Get("discover_drop_after"), s.Source("discover_drop_after"))
	}
	cfg.Discovery = &session.Discovery{Every: every, Params: autoseg.DefaultParams(), MaxObjects: n, DropAfter: drop}
	return nil
}

// UploadDir is where uploads live: the server's own data directory beside
// its store (a fresh temporary one with --no-store), never the media root.
func UploadDir(s *Settings, noStore bool) (string, error) {
	dir, err := dataDir(s, noStore, "uploads", "upload directory")
	if err != nil || noStore {
		return dir, err
	}
	// Uploads of a previous run ended with it.
	old, _ := filepath.Glob(filepath.Join(dir, "vidseg-upload-*"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	return dir, nil
}

// dataDir is the server's directory name beside its store, created if
// needed, or with noStore a fresh temporary one (vidseg-name-*) that the
// caller removes; what names it in errors.
func dataDir(s *Settings, noStore bool, name, what string) (string, error) {
	if noStore {
		return os.MkdirTemp("", "vidseg-"+name+"-")
	}
	dir := filepath.Join(filepath.Dir(s.Get("store")), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("serve: %s: %w", what, err)
	}
	return dir, nil
}

// SplitList splits comma-separated flag values into cleaned paths.
func SplitList(l List) []string {
	var out []string
	for _, v := range l {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, filepath.Clean(p))
			}
		}
	}
	return out
}

// IsLoopback tells whether a listens on a loopback address only.
func IsLoopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// PrintURL prints the address served and, with a token, the URL to open:
// an unspecified bind (0.0.0.0, ::) is shown as an address others can use.
func PrintURL(w io.Writer, a net.Addr, token string) {
	ap, err := netip.ParseAddrPort(a.String())
	host := a.String()
	if err == nil {
		ip := ap.Addr().Unmap()
		if ip.IsUnspecified() {
			ip = reachableIP()
		}
		host = net.JoinHostPort(ip.String(), fmt.Sprint(ap.Port()))
	}
	base := "http://" + host
	// The token line comes first: whoever waits for "serving on" (a
	// supervisor, a test) has it by then.
	if token != "" {
		fmt.Fprintf(w, "vidseg: open %s/?token=%s (every request needs the token)\n", base, url.QueryEscape(token))
	}
	fmt.Fprintf(w, "vidseg: serving on %s\n", base)
}

// reachableIP is this machine's first non-loopback unicast address, or
// 127.0.0.1.
func reachableIP() netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if pn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(pn.IP); ok && ip.Unmap().Is4() && ip.IsGlobalUnicast() {
				return ip.Unmap()
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// ResumeSessions reopens stored sessions by ID, or with "all" every
// stored session a client opened by a path or URL (not uploads, whose
// file ended with their session, nor configured cameras, which resume
// themselves), newest first and at most room of them; sources are
// resolved as a client's are (a path relative to the media root). An ID
// that cannot be resumed is an error; with "all", what cannot be resumed
// or does not fit is reported and the server starts anyway.
func ResumeSessions(ctx context.Context, e *Env, srv *web.Server, st *store.Store, ids []string, room int) error {
	var named, all []store.Info
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "all" {
			list, err := st.List()
			var bad *store.UnreadableError
			if errors.As(err, &bad) {
				// Resume what can be read; the damaged records stay for export.
				fmt.Fprintf(e.Stderr, "vidseg: serve --resume all: skipping %v\n", bad)
			} else if err != nil {
				return err
			}
			all = append(all, list...)
			continue
		}
		sess, err := st.Session(id)
		if err != nil {
			return InputErr(fmt.Errorf("serve --resume: %w", err))
		}
		if !seen[id] {
			seen[id] = true
			named = append(named, sess.Info)
		}
	}
	for _, info := range named {
		if err := resumeOne(ctx, e, srv, info); err != nil {
			return InputErr(err)
		}
		room--
	}
	var rest []store.Info
	for _, info := range all {
		if !seen[info.ID] && info.Source != "upload" && info.Meta["camera"] == "" {
			seen[info.ID] = true
			rest = append(rest, info)
		}
	}
	// Newest first: over the cap, the sessions used last are the ones
	// resumed.
	slices.SortStableFunc(rest, func(a, b store.Info) int { return b.Updated.Compare(a.Updated) })
	var left []string
	for _, info := range rest {
		if room <= 0 {
			left = append(left, info.ID)
			continue
		}
		if err := resumeOne(ctx, e, srv, info); err != nil {
			fmt.Fprintf(e.Stderr, "vidseg: serve --resume all: not resumed: %v\n", err)
			continue
		}
		room--
	}
	if len(left) > 0 {
		fmt.Fprintf(e.Stderr, "vidseg: serve --resume all: %d older stored sessions not resumed (the server runs at most %d sessions; --max-sessions): %s\n",
			len(left), srv.MaxSessions(), strings.Join(left, " "))
	}
	return nil
}

// resumeOne reopens one stored session under its ID.
func resumeOne(ctx context.Context, e *Env, srv *web.Server, info store.Info) error {
	if info.Source == "upload" || info.Source == "" {
		return fmt.Errorf("serve --resume %s: the session's source was an upload, whose file ended with it (export it: vidseg sessions export %s)", info.ID, info.ID)
	}
	resume := srv.Resume
	if info.Meta[journal.MetaEdit] != "" {
		resume = srv.ResumeEdit
	}
	ss, err := resume(ctx, info.ID, info.Source)
	if err != nil {
		return fmt.Errorf("serve --resume %s: %w", info.ID, err)
	}
	fmt.Fprintf(e.Stderr, "vidseg: resumed stored session %s (%s) as web session %s\n", info.ID, info.Source, ss.ID)
	return nil
}

// OpenEventSinks starts the analytics sinks of serve --events-file and
// --webhook; the returned func flushes and closes them.
func OpenEventSinks(file string, webhooks []string, log *slog.Logger) ([]events.Sink, func(), error) {
	var sinks []events.Sink
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if file != "" {
		j, err := events.OpenJSONL(file)
		if err != nil {
			return nil, nil, InputErr(fmt.Errorf("serve --events-file: %w", err))
		}
		sinks = append(sinks, j)
		closers = append(closers, func() {
			if err := j.Close(); err != nil {
				log.Warn("serve: events file", "err", err)
			}
		})
	}
	for _, raw := range webhooks {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			closeAll()
			return nil, nil, Usagef("serve --webhook %q: want an http(s) URL", raw)
		}
		wh := events.NewWebhook(raw, events.WebhookOptions{Logger: log})
		sinks = append(sinks, wh)
		closers = append(closers, func() {
			// Give queued events a moment to leave on shutdown.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := wh.Close(ctx); err != nil {
				log.Warn("serve: webhook", "err", err)
			}
		})
	}
	return sinks, closeAll, nil
}
