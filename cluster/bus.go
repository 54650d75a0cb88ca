package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the streams and buckets vidseg keeps in JetStream.
const (
	EventsStream  = "VIDSEG_EVENTS"  // vidseg.<camera>.events
	ResultsStream = "VIDSEG_RESULTS" // vidseg.<camera>.results
	CamerasBucket = "vidseg_cameras" // camera name -> Camera without its source
	SourcesBucket = "vidseg_sources" // camera name -> its source URL (credentials and all): the admin's only
	LeasesBucket  = "vidseg_leases"  // camera name -> Lease, expires after the lease TTL
	WorkersBucket = "vidseg_workers" // worker id -> Presence, expires after the lease TTL
	JournalBucket = "vidseg_journal" // camera name -> Journal (prompts, zones)
)

// DefaultLeaseTTL is how long a camera stays with a worker that stopped
// renewing its lease (killed, hung or cut off).
const DefaultLeaseTTL = 3 * time.Second

// Options tune what Connect creates when the streams and buckets do not
// exist yet (existing ones are used as they are). Zero fields take the
// defaults.
type Options struct {
	// Name names the connection in the server's monitoring.
	Name string
	// Replicas of every stream and bucket: 1 on one server, 3 on a
	// 3-node cluster [1].
	Replicas int
	// LeaseTTL [DefaultLeaseTTL].
	LeaseTTL time.Duration
	// EventsMaxAge and EventsMaxBytes bound the events stream [7 days, 1 GiB].
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	// ResultsPerCamera is how many recent frame results the results
	// stream keeps per camera [256]; ResultsMaxAge bounds their age [10 min].
	ResultsPerCamera int64
	ResultsMaxAge    time.Duration

	// User and Password, or Token, authenticate the connection; so do
	// credentials in the URL (nats://user:pass@host, nats://token@host)
	// and AuthFile.
	User, Password, Token string
	// AuthFile holds the credentials: a NATS .creds file (JWT and nkey
	// seed), an nkey seed file, or one line "user:password" or a token
	// (what `vidseg serve` writes for each worker).
	AuthFile string
	// OnError, when set, hears about errors NATS reports asynchronously
	// (a permission refused to a publish, a slow consumer).
	OnError func(error)
}

func (o *Options) defaults() {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.EventsMaxAge <= 0 {
		o.EventsMaxAge = 7 * 24 * time.Hour
	}
	if o.EventsMaxBytes <= 0 {
		o.EventsMaxBytes = 1 << 30
	}
	if o.ResultsPerCamera <= 0 {
		o.ResultsPerCamera = 256
	}
	if o.ResultsMaxAge <= 0 {
		o.ResultsMaxAge = 10 * time.Minute
	}
}

// Bus is a connection to NATS with vidseg's streams and buckets.
type Bus struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Events   jetstream.Stream
	Results  jetstream.Stream
	Cameras  jetstream.KeyValue
	Sources  jetstream.KeyValue
	Leases   jetstream.KeyValue
	Workers  jetstream.KeyValue
	Journal  jetstream.KeyValue
	LeaseTTL time.Duration
	// User is the NATS user connected as ("" when not known: a token or
	// a .creds file).
	User string
}

// Connect dials url and opens the streams and buckets, creating those
// that do not exist yet. Errors never show the credentials.
func Connect(ctx context.Context, url string, o Options) (*Bus, error) {
	o.defaults()
	auth, user, err := clientAuth(url, o)
	if err != nil {
		return nil, err
	}
	opts := append(auth, nats.Name(o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if user != "" {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(user)))
	}
	if o.OnError != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { o.OnError(err) }))
	}
	nc, err := dial(ctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("nats: connect to %s: %s", RedactURL(url), redactErr(err, url, o))
	}
	b, err := setup(ctx, nc, o)
	if err != nil {
		nc.Close()
		return nil, err
	}
	b.User = user
	return b, nil
}

// dial connects, trying again briefly after an authorization violation:
// the server re-checks every connection when its users are reloaded (as
// the coordinator does when leases move), and one still in its handshake
// then fails the check although its credentials are good. Wrong
// credentials still fail, about a second and a half later.
func dial(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		nc, err := nats.Connect(url, opts...)
		if err == nil || !cutInHandshake(err) || try == 5 {
			return nc, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// cutInHandshake says whether err is how a connection ends when a reload
// cuts it during its handshake: refused, or closed under the client.
func cutInHandshake(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// clientAuth turns o's credentials (or the URL's) into connect options,
// and says which user they are ("" when unknown).
func clientAuth(urls string, o Options) ([]nats.Option, string, error) {
	set := 0
	var opts []nats.Option
	user := ""
	if o.User != "" {
		set++
		opts, user = append(opts, nats.UserInfo(o.User, o.Password)), o.User
	}
	if o.Token != "" {
		set++
		opts = append(opts, nats.Token(o.Token))
	}
	if o.AuthFile != "" {
		set++
		fo, fu, err := fileAuth(o.AuthFile)
		if err != nil {
			return nil, "", err
		}
		opts, user = append(opts, fo), fu
	}
	for _, s := range strings.Split(urls, ",") {
		u, err := neturl.Parse(strings.TrimSpace(s))
		if err != nil || u.User == nil {
			continue
		}
		if set > 0 {
			return nil, "", errors.New("nats: credentials both in the URL and given apart; give one")
		}
		if _, ok := u.User.Password(); ok {
			user = u.User.Username()
		}
		break
	}
	if set > 1 {
		return nil, "", errors.New("nats: more than one kind of credentials given; give one")
	}
	return opts, user, nil
}

// fileAuth reads an --nats-auth file: a .creds file, an nkey seed, or
// one line "user:password" or a token.
func fileAuth(path string) (nats.Option, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("nats: credentials file: %w", err)
	}
	text := strings.TrimSpace(string(data))
	switch {
	case strings.Contains(text, "BEGIN NATS USER JWT"):
		return nats.UserCredentials(path), "", nil
	case strings.HasPrefix(text, "SU") && !strings.ContainsAny(text, ": \n"):
		o, err := nats.NkeyOptionFromSeed(path)
		if err != nil {
			return nil, "", fmt.Errorf("nats: nkey seed file %s: %w", path, err)
		}
		return o, "", nil
	case text == "" || strings.Contains(text, "\n"):
		return nil, "", fmt.Errorf("nats: credentials file %s: want one line, user:password or a token (or a .creds or nkey seed file)", path)
	}
	if u, p, ok := strings.Cut(text, ":"); ok {
		return nats.UserInfo(u, p), u, nil
	}
	return nats.Token(text), "", nil
}

// redactErr is err's text without any of the credentials (a server's
// answer may quote what it was sent).
func redactErr(err error, urls string, o Options) string {
	msg := err.Error()
	secrets := []string{o.Password, o.Token}
	for _, s := range strings.Split(urls, ",") {
		if u, perr := neturl.Parse(strings.TrimSpace(s)); perr == nil && u.User != nil {
			p, _ := u.User.Password()
			secrets = append(secrets, u.User.Username(), p)
		}
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
		}
	}
	return msg
}

func setup(ctx context.Context, nc *nats.Conn, o Options) (*Bus, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	b := &Bus{NC: nc, JS: js, LeaseTTL: o.LeaseTTL}
	b.Events, err = stream(ctx, js, jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "vidseg analytics events; Nats-Msg-Id is the event id (camera:seq)",
		Subjects:    []string{"vidseg.*.events"},
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		MaxAge:      o.EventsMaxAge,
		MaxBytes:    o.EventsMaxBytes,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s: %w", EventsStream, err)
	}
	b.Results, err = stream(ctx, js, jetstream.StreamConfig{
		Name:              ResultsStream,
		Description:       "vidseg per-frame tracking results (boxes, scores, RLE masks)",
		Subjects:          []string{"vidseg.*.results"},
		Storage:           jetstream.FileStorage,
		Replicas:          o.Replicas,
		MaxAge:            o.ResultsMaxAge,
		MaxMsgsPerSubject: o.ResultsPerCamera,
		MaxBytes:          1 << 30,
		Discard:           jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s: %w", ResultsStream, err)
	}
	kv := func(name, desc string, ttl time.Duration) (jetstream.KeyValue, error) {
		// Opened first: a user that may not create buckets (a relay, a
		// worker) uses those that exist.
		k, err := js.KeyValue(ctx, name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			k, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: name, Description: desc, TTL: ttl, History: 1,
				Storage: jetstream.FileStorage, Replicas: o.Replicas,
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				k, err = js.KeyValue(ctx, name)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("nats: bucket %s: %w", name, err)
		}
		return k, nil
	}
	if b.Cameras, err = kv(CamerasBucket, "vidseg cameras to track", 0); err != nil {
		return nil, err
	}
	if b.Sources, err = kv(SourcesBucket, "vidseg camera sources, read only by whoever hands out leases", 0); err != nil {
		return nil, err
	}
	if b.Leases, err = kv(LeasesBucket, "which worker tracks each camera", o.LeaseTTL); err != nil {
		return nil, err
	}
	if b.Workers, err = kv(WorkersBucket, "live workers and their load", o.LeaseTTL); err != nil {
		return nil, err
	}
	if b.Journal, err = kv(JournalBucket, "each camera's prompts and zones", 0); err != nil {
		return nil, err
	}
	// The TTL is the bucket's: set by whoever created it.
	st, err := b.Leases.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("nats: bucket %s: %w", LeasesBucket, err)
	}
	if st.TTL() > 0 {
		b.LeaseTTL = st.TTL()
	}
	return b, nil
}

// stream creates a stream, or opens it as it is: the first process to
// connect sets the limits and replicas, later ones do not fight over them
// (change them with the nats CLI).
func stream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, cfg.Name)
		}
	}
	return s, err
}

// Close drains the connection: what was published is flushed first.
func (b *Bus) Close() error { return b.NC.Drain() }

// Subject names one camera's messages of kind ("events", "results",
// "prompt").
func Subject(camera, kind string) string { return "vidseg." + camera + "." + kind }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckName refuses a camera name that cannot be a NATS subject token and
// key: 1 to 64 letters, digits, '_' or '-'.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("camera name %q: with workers a name is 1 to 64 letters, digits, '_' or '-'", name)
	}
	return nil
}

// isWrongLastSeq reports a publish refused because the subject moved on:
// another worker published for the camera since.
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
