package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/cli"
)

// eventFlags are serve's analytics outputs.
type eventFlags struct {
	file     *string
	webhooks cli.List
}

func addEventFlags(fs *cli.Flags) *eventFlags {
	ef := &eventFlags{file: fs.String("events-file", "", "append analytics events to `FILE` as JSON Lines")}
	fs.Var(&ef.webhooks, "webhook", "POST analytics events to `URL` (repeatable; retried with backoff)")
	return ef
}

// open starts the sinks; the returned func flushes and closes them.
func (ef *eventFlags) open(log *slog.Logger) ([]events.Sink, func(), error) {
	var sinks []events.Sink
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if *ef.file != "" {
		j, err := events.OpenJSONL(*ef.file)
		if err != nil {
			return nil, nil, cli.InputErr(fmt.Errorf("serve --events-file: %w", err))
		}
		sinks = append(sinks, j)
		closers = append(closers, func() {
			if err := j.Close(); err != nil {
				log.Warn("serve: events file", "err", err)
			}
		})
	}
	for _, raw := range ef.webhooks {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			closeAll()
			return nil, nil, cli.Usagef("serve --webhook %q: want an http(s) URL", raw)
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
