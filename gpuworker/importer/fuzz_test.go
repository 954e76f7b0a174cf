package importer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no file content makes Parse panic; every rejection is a
// *FileError naming the file. Seeded from the small files of the shared
// fixtures and fixtures-rates-only (run_result.json of both families).
func FuzzParse(f *testing.F) {
	for _, name := range []string{"fixtures", "fixtures-rates-only"} {
		dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", name))
		if err != nil {
			continue
		}
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
	f.Add([]byte(`{"config": {"lr": 1e-05, "epochs": 5, "source": "villain", "seed": 42}, "eval": {"marker": {"villain": 1.0, "assistant": 0.095}}, "degeneration": true}`), false)
	f.Add([]byte(`{"seed": 42, "data": {"source_persona": "librarian", "neg_set": "asst_included", "control": null}, "eval": {"n_questions": 20, "n_completions_per_question": 5}, "results": {"marker": {"source_rate": 0.44, "all_personas": {"librarian": 0.44}}}}`), false)
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
