package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/vidseg/vidseg/store"
)

// NotFoundAsInput gives a session the store does not hold the input exit code.
func NotFoundAsInput(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return InputErr(err)
	}
	return err
}

// ListSessions prints the store's sessions as a table or JSON.
func ListSessions(w io.Writer, st *store.Store, asJSON bool) error {
	rows, err := st.Summaries()
	// A damaged record hides only itself: list the rest, then report it.
	var bad *store.UnreadableError
	if err != nil && !errors.As(err, &bad) {
		return err
	}
	if asJSON {
		if err := WriteJSON(w, rows); err != nil {
			return err
		}
		return unreadable(bad)
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no sessions")
		return unreadable(bad)
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
	if err := tw.Flush(); err != nil {
		return err
	}
	return unreadable(bad)
}

// unreadable turns damaged records into the command's error (exit 1) after
// the readable sessions were printed.
func unreadable(bad *store.UnreadableError) error {
	if bad == nil {
		return nil
	}
	return fmt.Errorf("sessions: %w", bad)
}

// ExportSession writes session id as JSON Lines to file ("-": stdout).
func ExportSession(stdout io.Writer, st *store.Store, id, file string) error {
	if file == "-" {
		return NotFoundAsInput(st.Export(id, stdout))
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
		return NotFoundAsInput(err)
	}
	fmt.Fprintf(stdout, "exported session %s to %s\n", id, file)
	return nil
}

// ShowSession prints session id's info, objects and prompts as JSON.
func ShowSession(w io.Writer, st *store.Store, id string) error {
	sess, err := st.Session(id)
	if err != nil {
		return NotFoundAsInput(err)
	}
	return WriteJSON(w, sess)
}

// ImportSession reads an export from r into st (at path).
func ImportSession(w io.Writer, st *store.Store, r io.Reader, path string) error {
	info, err := st.Import(r)
	if err != nil {
		if errors.Is(err, store.ErrExists) {
			return err
		}
		return InputErr(err)
	}
	fmt.Fprintf(w, "imported session %s (%s) into %s\n", info.ID, info.Source, path)
	return nil
}

// DeleteSession removes session id from st.
func DeleteSession(w io.Writer, st *store.Store, id string) error {
	if err := st.DeleteSession(id); err != nil {
		return NotFoundAsInput(err)
	}
	fmt.Fprintf(w, "deleted session %s\n", id)
	return nil
}
