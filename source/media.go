package source

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// MediaFile is a video in the media root, for a gallery.
type MediaFile struct {
	Name string `json:"name"` // relative to the media root, with slashes
	Size int64  `json:"size"`
}

// mediaExts are the file names listed as videos (by extension: opening
// each to ask FFmpeg would cost a decode per file).
var mediaExts = []string{".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mpg", ".mpeg", ".ogv", ".flv", ".wmv", ".3gp", ".y4m"}

// maxMediaDepth bounds how deep List looks under the media root: a
// file's path has at most this many parts (three directories and it).
const maxMediaDepth = 4

// List returns up to limit videos under the media root, in path order,
// and whether there were more. Hidden files and directories (a leading
// dot) are skipped, and so are symlinks (Resolve opens those only while
// they stay inside the root; a listing does not chase them).
func (s *Resolver) List(limit int) (files []MediaFile, more bool, err error) {
	if s.root == nil {
		return nil, false, fmt.Errorf("%w: this server has no media directory (vidseg serve --media-root DIR)", ErrNotFound)
	}
	files = []MediaFile{}
	errFull := errors.New("full")
	err = fs.WalkDir(s.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// An unreadable directory is left out, not the listing.
			if d != nil && d.IsDir() && p != "." {
				return fs.SkipDir
			}
			return nil
		}
		name := d.Name()
		if p != "." && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != "." && strings.Count(p, "/") >= maxMediaDepth-1 {
				return fs.SkipDir
			}
			return nil
		}
		ext := strings.ToLower(path.Ext(name))
		if !d.Type().IsRegular() || !slices.Contains(mediaExts, ext) {
			return nil
		}
		if len(files) == limit {
			return errFull
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		files = append(files, MediaFile{Name: p, Size: info.Size()})
		return nil
	})
	if errors.Is(err, errFull) {
		return files, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("list the media directory: %w", err)
	}
	return files, false, nil
}
