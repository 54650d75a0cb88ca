package cluster

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Roles of the embedded server's users. Every client authenticates, on
// loopback too: any local process could otherwise read camera sources,
// forge events and leases, and read or answer users' prompts.
const (
	// AdminUser is the front end's own connection to the server it
	// embeds: it creates the streams and buckets and writes the cameras.
	AdminUser = "vidseg-admin"
	// RelayUser is a front end's relay: it reads events, results, cameras
	// and leases and forwards prompts; it writes nothing.
	RelayUser = "vidseg-relay"
)

// Cred is one user of the embedded server.
type Cred struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Auth is the embedded server's users: one per role, one per worker.
type Auth struct {
	Admin   Cred   `json:"admin"`
	Relay   Cred   `json:"relay"`
	Workers []Cred `json:"workers"`
}

var workerNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewAuth generates random passwords for the admin, the relay and one
// worker of each name (worker names are NATS subject tokens: 1 to 64
// letters, digits, '_' or '-').
func NewAuth(workers []string) (*Auth, error) {
	a := &Auth{Admin: Cred{AdminUser, secret()}, Relay: Cred{RelayUser, secret()}}
	for _, w := range workers {
		if err := a.AddWorker(w); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// AddWorker adds a worker user with a random password (a no-op for one
// that exists).
func (a *Auth) AddWorker(name string) error {
	if !workerNameRE.MatchString(name) || name == AdminUser || name == RelayUser {
		return fmt.Errorf("nats: worker name %q: want 1 to 64 letters, digits, '_' or '-', not a role's", name)
	}
	if a.Worker(name) == nil {
		a.Workers = append(a.Workers, Cred{name, secret()})
	}
	return nil
}

// Worker returns the worker's credentials (nil if there is none).
func (a *Auth) Worker(name string) *Cred {
	for i := range a.Workers {
		if a.Workers[i].User == name {
			return &a.Workers[i]
		}
	}
	return nil
}

// secret is 128 random bits, URL-safe.
func secret() string {
	return strings.ToLower(rand.Text()) // 26 base32 characters
}

// LoadOrCreateAuth reads the users kept in path (a JSON file, mode 0600)
// or creates them, so that workers holding their credentials reconnect
// after the front end restarts. Workers missing from the file are added.
// Each worker's credentials are also written to DIR/worker-NAME.auth
// (user:password, mode 0600) beside path, to hand to that worker's
// --nats-auth.
func LoadOrCreateAuth(path string, workers []string) (*Auth, error) {
	var a *Auth
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		a = new(Auth)
		if err := json.Unmarshal(data, a); err != nil || a.Admin.Password == "" || a.Relay.Password == "" {
			return nil, fmt.Errorf("nats: users file %s is not readable (%v); move it aside to generate new credentials", path, err)
		}
		a.Admin.User, a.Relay.User = AdminUser, RelayUser
		for _, w := range workers {
			if err := a.AddWorker(w); err != nil {
				return nil, err
			}
		}
	case errors.Is(err, os.ErrNotExist):
		if a, err = NewAuth(workers); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("nats: users file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("nats: users file: %w", err)
	}
	data, _ = json.MarshalIndent(a, "", "  ")
	if err := writeSecret(path, data); err != nil {
		return nil, err
	}
	for _, w := range a.Workers {
		if err := writeSecret(WorkerAuthFile(filepath.Dir(path), w.User), []byte(w.User+":"+w.Password+"\n")); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// WorkerAuthFile is where LoadOrCreateAuth writes a worker's credentials.
func WorkerAuthFile(dir, worker string) string {
	return filepath.Join(dir, "worker-"+worker+".auth")
}

// writeSecret replaces path with data, readable by this user only.
func writeSecret(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("nats: credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("nats: credentials: %w", err)
	}
	return nil
}

// InboxPrefix is a user's inbox prefix: each user may subscribe only to
// its own replies.
func InboxPrefix(user string) string { return "_INBOX_" + user }

// users is the server's user list with each role's permissions; grants
// are the cameras each worker holds (Embedded.SetGrants).
func (a *Auth) users(grants map[string][]string) []*server.User {
	us := []*server.User{
		{Username: a.Admin.User, Password: a.Admin.Password}, // everything
		{Username: a.Relay.User, Password: a.Relay.Password, Permissions: relayPermissions()},
	}
	for _, w := range a.Workers {
		us = append(us, &server.User{Username: w.User, Password: w.Password, Permissions: workerPermissions(w.User, grants[w.User])})
	}
	return us
}

// relayPermissions: read the events (its own durable consumer, acked),
// the results, the camera records (without their sources, which are in
// the sources bucket it cannot read) and the leases; send prompt
// requests. No stream, bucket or key is written.
func relayPermissions() *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"$JS.API.INFO",
			"$JS.API.STREAM.INFO.*",
			"$JS.API.DIRECT.GET.KV_" + LeasesBucket + ".>",
			"$JS.API.STREAM.MSG.GET.KV_" + LeasesBucket,
			"$JS.API.DIRECT.GET.KV_" + CamerasBucket + ".>",
			"$JS.API.STREAM.MSG.GET.KV_" + CamerasBucket,
			"$JS.API.CONSUMER.CREATE.KV_" + CamerasBucket + ".>",
			"$JS.API.CONSUMER.DELETE.KV_" + CamerasBucket + ".>",
			"$JS.API.CONSUMER.CREATE." + EventsStream + ".>",
			"$JS.API.CONSUMER.INFO." + EventsStream + ".>",
			"$JS.API.CONSUMER.MSG.NEXT." + EventsStream + ".>",
			"$JS.ACK." + EventsStream + ".>",
			"$JS.API.STREAM.MSG.GET." + EventsStream,
			"$JS.API.CONSUMER.CREATE." + ResultsStream + ".>",
			"$JS.API.CONSUMER.DELETE." + ResultsStream + ".>",
			"$JS.API.CONSUMER.MSG.NEXT." + ResultsStream + ".>",
			"$JS.FC.KV_" + CamerasBucket + ".>",
			"vidseg.*.prompt",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{InboxPrefix(RelayUser) + ".>"}},
	}
}

// workerPermissions: read the camera records (not their sources), the
// leases, the workers and the last events and results; write its own
// presence key; ask the coordinator for leases on its own subjects
// (LeaseSubject), which hands it a camera's source with the lease. Only
// for the cameras it holds (cams, granted by the coordinator as it
// writes their leases): publish their events and results, read and
// write their journals, answer their prompts. Leases themselves are
// written only by the coordinator.
func workerPermissions(user string, cams []string) *server.Permissions {
	allow := []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO.*",
		"$JS.API.STREAM.MSG.GET." + EventsStream,
		"$JS.API.STREAM.MSG.GET." + ResultsStream,
		"$KV." + WorkersBucket + "." + user,
		LeaseSubject(user, "*"),
	}
	for _, b := range []string{CamerasBucket, LeasesBucket, WorkersBucket} {
		allow = append(allow, "$JS.API.DIRECT.GET.KV_"+b+".>", "$JS.API.STREAM.MSG.GET.KV_"+b)
	}
	for _, b := range []string{CamerasBucket, WorkersBucket} { // keys listed
		allow = append(allow, "$JS.API.CONSUMER.CREATE.KV_"+b+".>", "$JS.API.CONSUMER.DELETE.KV_"+b+".>", "$JS.FC.KV_"+b+".>")
	}
	sub := []string{InboxPrefix(user) + ".>"}
	for _, c := range cams {
		allow = append(allow, Subject(c, "events"), Subject(c, "results"),
			"$KV."+JournalBucket+"."+c,
			// A journal is read by its last message on its key's subject
			// (the bucket allows direct gets): only this camera's.
			"$JS.API.DIRECT.GET.KV_"+JournalBucket+".$KV."+JournalBucket+"."+c)
		sub = append(sub, Subject(c, "prompt"))
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow},
		Subscribe: &server.SubjectPermission{Allow: sub},
		// Prompt answers go to the asker's inbox, once, within the
		// prompt's time.
		Response: &server.ResponsePermission{MaxMsgs: 1, Expires: 3 * time.Minute},
	}
}

// RedactURL hides the credentials of NATS URLs (comma-separated): a
// token, a user and password, all of them, for logs and errors.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.Host != "" {
			if u.User != nil {
				u.User = url.User("REDACTED")
			}
			parts[i] = u.String()
			continue
		}
		// Not a URL: drop anything between the scheme and the last '@'.
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme := ""
			if i := strings.Index(p[:at], "://"); i >= 0 {
				scheme = p[:i+3]
			}
			p = scheme + "REDACTED" + p[at:]
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
