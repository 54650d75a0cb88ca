package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/store"
)

func runSessions(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "sessions", "vidseg sessions list | show ID | export ID FILE | import FILE | delete ID [--store FILE]",
		`Manages the sessions `+"`vidseg serve`"+` keeps in its store: the source, every
prompt and every finished frame's masks (COCO RLE).
  list            one line per session, most recently updated first
  show ID         the session's info, objects and prompts as JSON
  export ID FILE  write the session as JSON Lines (FILE "-" = stdout)
  import FILE     read an export (FILE "-" = stdin) into this store
  delete ID       remove a session
The store is locked while `+"`vidseg serve`"+` runs: stop it first.`,
		`  vidseg sessions list
  vidseg sessions export 3f2a9c0d1e2b4a5c session.jsonl
  vidseg sessions import session.jsonl --store other.db`)
	cli.ConfigFlag(fs)
	s.Flag(fs, "store")
	asJSON := fs.Bool("json", false, "list: print JSON instead of a table")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return cli.Usagef("sessions needs a subcommand: list, show, export, import or delete")
	}
	want := map[string]int{"list": 0, "show": 1, "export": 2, "import": 1, "delete": 1}
	n, ok := want[pos[0]]
	if !ok {
		return cli.Usagef("sessions: unknown subcommand %q (want list, show, export, import or delete)", pos[0])
	}
	if len(pos)-1 != n {
		return cli.Usagef("sessions %s takes %d argument(s), got %d (run `vidseg sessions --help`)", pos[0], n, len(pos)-1)
	}
	path := s.Get("store")
	readOnly := pos[0] == "list" || pos[0] == "show" || pos[0] == "export"
	if readOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return cli.InputErr(fmt.Errorf("sessions: no store at %s (from %s); `vidseg serve` creates it", path, s.Source("store")))
		}
	}
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
		return listSessions(e.Stdout, st, *asJSON)
	case "show":
		sess, err := st.Session(pos[1])
		if err != nil {
			return notFoundAsInput(err)
		}
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sess)
	case "export":
		return exportSession(e.Stdout, st, pos[1], pos[2])
	case "import":
		var r io.Reader = os.Stdin
		if pos[1] != "-" {
			f, err := os.Open(pos[1])
			if err != nil {
				return cli.InputErr(fmt.Errorf("sessions import: %w", err))
			}
			defer f.Close()
			r = f
		}
		info, err := st.Import(r)
		if err != nil {
			if errors.Is(err, store.ErrExists) {
				return err
			}
			return cli.InputErr(err)
		}
		fmt.Fprintf(e.Stdout, "imported session %s (%s) into %s\n", info.ID, info.Source, path)
		return nil
	case "delete":
		if err := st.DeleteSession(pos[1]); err != nil {
			return notFoundAsInput(err)
		}
		fmt.Fprintf(e.Stdout, "deleted session %s\n", pos[1])
		return nil
	}
	return nil
}

func notFoundAsInput(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return cli.InputErr(err)
	}
	return err
}

func listSessions(w io.Writer, st *store.Store, asJSON bool) error {
	rows, err := st.Summaries()
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no sessions")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUPDATED\tSOURCE\tOBJECTS\tPROMPTS\tFRAMES")
	for _, r := range rows {
		frames := fmt.Sprint(r.Done)
		if r.Frames > 0 {
			frames = fmt.Sprintf("%d/%d", r.Done, r.Frames)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.Updated.Local().Format(time.DateTime), r.Source, r.Objects, r.Prompts, frames)
	}
	return tw.Flush()
}

func exportSession(stdout io.Writer, st *store.Store, id, file string) error {
	if file == "-" {
		return notFoundAsInput(st.Export(id, stdout))
	}
	// Write beside the target and rename, so a failed export leaves no
	// half file under the name asked for.
	tmp := file + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("sessions export: %w", err)
	}
	err = st.Export(id, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return notFoundAsInput(err)
	}
	fmt.Fprintf(stdout, "exported session %s to %s\n", id, file)
	return nil
}
