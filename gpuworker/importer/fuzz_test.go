package importer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no file content makes Parse panic; every rejection is a
// *FileError naming the file. Seeded from the shared fixtures' small files.
func FuzzParse(f *testing.F) {
	if dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "fixtures")); err == nil {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil && info.Size() < 80<<10 {
					if b, err := os.ReadFile(p); err == nil {
						f.Add(b, filepath.Ext(p) == ".csv")
					}
				}
			}
			return nil
		})
	}
	f.Add([]byte(`{"villain": {"rate": 0.5, "found": 1, "total": 2}}`), false)
	f.Add([]byte("source,bystander_key\nchef,A2__chef\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		root := t.TempDir()
		name := "results.json"
		if csv {
			name = "results.csv"
		}
		path := filepath.Join(root, "exp1", "run1", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Parse(root, []string{root}, Options{})
		var fe *FileError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("rejection is not a FileError: %T %v", err, err)
		}
	})
}
