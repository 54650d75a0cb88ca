// Package cluster spreads cameras over many machines with NATS JetStream:
// an embedded NATS server by default (Embedded), cameras as work items
// leased by workers (Worker), each camera's prompts journaled in a
// key-value bucket and replayed by whichever worker takes it over
// (Trackers), per-frame results and analytics events published into
// streams with retention limits (EventPublisher), and what a front end
// needs to serve them to viewers (Relay).
//
// docs/scale-out.md describes the topology and what is persisted where.
package cluster

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configure the in-process NATS server of `vidseg serve`.
type EmbeddedOptions struct {
	// Dir holds JetStream's file store (streams and buckets survive a
	// restart of the process).
	Dir string
	// Addr is host:port to listen on; "" is 127.0.0.1 on a free port.
	// A port of 0 also picks a free one.
	Addr string
	// Auth is its users, one per role (Auth.users); nil generates an
	// admin and a relay user for this start only.
	Auth *Auth
}

// Embedded is a NATS server with JetStream running in this process.
type Embedded struct {
	srv    *server.Server
	opts   server.Options // as started, for reloads
	mu     sync.Mutex     // serializes changes to auth and grants
	auth   *Auth
	grants map[string][]string // worker -> cameras it holds, sorted
}

// StartEmbedded starts a NATS server with JetStream and waits until it
// accepts clients.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	host, port := "127.0.0.1", server.RANDOM_PORT
	if o.Addr != "" {
		h, p, err := net.SplitHostPort(o.Addr)
		if err != nil {
			return nil, fmt.Errorf("nats: listen address %q: %w", o.Addr, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("nats: listen address %q: bad port", o.Addr)
		}
		host = h
		if n != 0 {
			port = n
		}
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("nats: no directory for the JetStream store")
	}
	if o.Auth == nil {
		a, err := NewAuth(nil)
		if err != nil {
			return nil, err
		}
		o.Auth = a
	}
	opts := &server.Options{
		ServerName: "vidseg",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.Dir,
		NoSigs:     true, // the process handles its own signals
		NoLog:      true,
		// The HTTP monitor stays off: nothing of the server's state is
		// exposed beyond the client port.
		HTTPPort: 0,
		// Every client authenticates, on loopback too, as one of the
		// roles: nobody else connects.
		Users: o.Auth.users(nil),
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats: server on %s not ready within 30s", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return &Embedded{srv: srv, opts: *opts, auth: o.Auth}, nil
}

// URL is the address clients (workers, front ends) connect to, without
// credentials: those are Auth's.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Auth is the server's users.
func (e *Embedded) Auth() *Auth {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.auth
}

// AddWorker adds a worker user with a random password to the running
// server (Auth().Worker(name) has it).
func (e *Embedded) AddWorker(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.auth.AddWorker(name); err != nil {
		return err
	}
	return e.reload()
}

// reload applies the users and grants to the running server: existing
// connections get the new permissions, and subscriptions no longer
// allowed are removed. Under e.mu.
func (e *Embedded) reload() error {
	o := e.opts.Clone()
	o.Users = e.auth.users(e.grants)
	if err := e.srv.ReloadOptions(o); err != nil {
		return fmt.Errorf("nats: users not reloaded: %w", err)
	}
	e.opts = *o
	return nil
}

// SetGrants gives each worker the permissions of the cameras it holds
// (worker user -> camera names) and takes them from the others; a no-op
// when nothing changed. The Coordinator calls it as leases move.
func (e *Embedded) SetGrants(grants map[string][]string) error {
	g := make(map[string][]string, len(grants))
	for w, cams := range grants {
		if len(cams) > 0 {
			g[w] = slices.Sorted(slices.Values(cams))
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if maps.EqualFunc(g, e.grants, slices.Equal[[]string]) {
		return nil
	}
	old := e.grants
	e.grants = g
	if err := e.reload(); err != nil {
		e.grants = old
		return err
	}
	return nil
}

// Admin returns the Options fields that connect as the admin (the
// process that embeds the server).
func (e *Embedded) Admin(o Options) Options {
	o.User, o.Password = e.auth.Admin.User, e.auth.Admin.Password
	return o
}

// Relay returns the Options fields that connect as the read-only relay.
func (e *Embedded) Relay(o Options) Options {
	o.User, o.Password = e.auth.Relay.User, e.auth.Relay.Password
	return o
}

// Close shuts the server down and waits for it to finish.
func (e *Embedded) Close() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
