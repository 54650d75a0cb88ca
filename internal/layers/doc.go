// Package layers holds no code: its test checks the module's import rules
// (docs/architecture.md), run by `make check`. Only the HTTP layer imports
// package web, and only the packages that serve or fetch over HTTP import
// net/http, so the session engine and everything under it run without an
// HTTP server (a cluster worker, `vidseg track`).
package layers
