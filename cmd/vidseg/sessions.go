package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/store"
)

func runSessions(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "sessions", "vidseg sessions list | show ID | export ID FILE | import FILE | delete ID | backup FILE | restore FILE [--store FILE]",
		`Manages the sessions `+"`vidseg serve`"+` keeps in its store: the source, every
prompt and every finished frame's masks (COCO RLE).
  list            one line per session, most recently updated first
  show ID         the session's info, objects and prompts as JSON
  export ID FILE  write the session as JSON Lines (FILE "-" = stdout)
  import FILE     read an export (FILE "-" = stdin) into this store
  delete ID       remove a session
  backup FILE     write a consistent copy of the whole store to a new FILE
  restore FILE    check the backup FILE and put it in place of the store (the
                  replaced store is kept as STORE.before-restore)
A store found damaged at start is refused, named and moved aside
(STORE.corrupt-TIME); restore a backup or start anew.
The store is locked while `+"`vidseg serve`"+` runs: stop it first.`,
		`  vidseg sessions list
  vidseg sessions export 3f2a9c0d1e2b4a5c session.jsonl
  vidseg sessions import session.jsonl --store other.db
  vidseg sessions backup sessions-2026-12-04.db`)
	cli.ConfigFlag(fs)
	s.Flag(fs, "store")
	asJSON := fs.Bool("json", false, "list: print JSON instead of a table")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return cli.Usagef("sessions needs a subcommand: list, show, export, import, delete, backup or restore")
	}
	want := map[string]int{"list": 0, "show": 1, "export": 2, "import": 1, "delete": 1, "backup": 1, "restore": 1}
	n, ok := want[pos[0]]
	if !ok {
		return cli.Usagef("sessions: unknown subcommand %q%s (want list, show, export, import, delete, backup or restore)", pos[0],
			cli.DidYouMean(pos[0], []string{"list", "show", "export", "import", "delete", "backup", "restore"}))
	}
	if len(pos)-1 != n {
		return cli.Usagef("sessions %s takes %d argument(s), got %d (run `vidseg sessions --help`)", pos[0], n, len(pos)-1)
	}
	path := s.Get("store")
	if pos[0] == "restore" {
		if _, err := os.Stat(pos[1]); err != nil {
			return cli.InputErr(fmt.Errorf("sessions restore: %w", err))
		}
		if err := store.Restore(pos[1], path); err != nil {
			if errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("%w: stop `vidseg serve` first", err)
			}
			return err
		}
		fmt.Fprintf(e.Stdout, "restored %s from %s\n", path, pos[1])
		return nil
	}
	readOnly := pos[0] == "list" || pos[0] == "show" || pos[0] == "export" || pos[0] == "backup"
	// Only a successful import may create the store: opening one creates
	// the file, so a missing store or import file is checked first.
	if pos[0] != "import" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return cli.InputErr(fmt.Errorf("sessions: no store at %s (from %s); `vidseg serve` creates it", path, s.Source("store")))
		}
	}
	var importFile *os.File
	if pos[0] == "import" && pos[1] != "-" {
		if importFile, err = os.Open(pos[1]); err != nil {
			return cli.InputErr(fmt.Errorf("sessions import: %w", err))
		}
		defer importFile.Close()
	}
	_, statErr := os.Stat(path)
	fresh := errors.Is(statErr, os.ErrNotExist)
	st, err := store.OpenWith(path, store.Options{ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("%w: stop `vidseg serve` first", err)
		}
		return err
	}
	defer st.Close()

	switch pos[0] {
	case "list":
		return cli.ListSessions(e.Stdout, st, *asJSON)
	case "show":
		return cli.ShowSession(e.Stdout, st, pos[1])
	case "export":
		return cli.ExportSession(e.Stdout, st, pos[1], pos[2])
	case "import":
		var r io.Reader = os.Stdin
		if importFile != nil {
			r = importFile
		}
		err := cli.ImportSession(e.Stdout, st, r, path)
		if err != nil && fresh {
			// A failed import into a new store leaves no empty store.
			st.Close()
			os.Remove(path)
		}
		return err
	case "backup":
		if err := st.Backup(pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "backed up %s to %s\n", path, pos[1])
		return nil
	default: // delete
		return cli.DeleteSession(e.Stdout, st, pos[1])
	}
}
