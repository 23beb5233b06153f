package resonance_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

func history(t *testing.T, s *resonance.Store, f resonance.HistoryFilter) []resonance.Change {
	t.Helper()
	var out []resonance.Change
	err := s.Read(context.Background(), func(ctx context.Context, r *resonance.ReadTx) (err error) {
		out, err = r.History(ctx, f)
		return err
	})
	if err != nil {
		t.Fatalf("History(%+v): %v", f, err)
	}
	return out
}

func TestReadTx_History(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	mustUpsert(t, s, resonance.Node{ID: "a", Type: "doc", Meta: json.RawMessage(`{"v":1}`)})
	mustUpsert(t, s, resonance.Node{ID: "b", Type: "doc"})
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpdateNodeMeta(ctx, "a", json.RawMessage(`{"v":2}`)); err != nil {
			return err
		}
		if err := tx.UpdateNodeDate(ctx, "a", "2024"); err != nil {
			return err
		}
		if err := tx.InsertEdge(ctx, "a", "b", ""); err != nil {
			return err
		}
		return tx.DeleteNodes(ctx, "a")
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first rows' timestamps are set back an hour, to filter on.
	if _, err := s.DB().Exec(`UPDATE history SET timestamp = datetime('now', '-1 hour') WHERE id <= 2`); err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID                       int64
		Entity, EntityID, Action string
		Old, New                 string
	}
	rows := func(cs []resonance.Change) []row {
		var out []row
		for _, c := range cs {
			out = append(out, row{c.ID, c.Entity, c.EntityID, c.Action, string(c.Old), string(c.New)})
			if time.Since(c.Time) > 2*time.Hour || time.Until(c.Time) > time.Minute {
				t.Errorf("change %d at %v, not within the last hours", c.ID, c.Time)
			}
		}
		return out
	}
	aNode := `{"id":"a","type":"doc","title":"","domain":"knowledge","layer":"experience","embedding":null,"hash":"","summary":"","meta":{"v":2},"date":"2024"}`
	all := []row{
		{7, "node", "a", "delete", aNode, ""},
		{6, "edge", "a|b|related_to", "delete", `{"source":"a","target":"b","type":"related_to","confidence":1,"veracity":1,"context_source":""}`, ""},
		{5, "edge", "a|b|related_to", "insert", "", `{"source":"a","target":"b","type":"related_to"}`},
		{4, "node", "a", "update_date", "", `"2024"`},
		{3, "node", "a", "update_meta", `{"v":1}`, `{"v":2}`},
		{2, "node", "b", "upsert", "", `{"id":"b","type":"doc","title":"","domain":"knowledge","layer":"experience","embedding":null,"hash":"","summary":"","meta":null,"date":""}`},
		{1, "node", "a", "upsert", "", `{"id":"a","type":"doc","title":"","domain":"knowledge","layer":"experience","embedding":null,"hash":"","summary":"","meta":{"v":1},"date":""}`},
	}
	for _, tc := range []struct {
		name string
		f    resonance.HistoryFilter
		want []row
	}{
		{"every change", resonance.HistoryFilter{}, all},
		{"a node's", resonance.HistoryFilter{NodeID: "a"}, []row{all[0], all[3], all[4], all[6]}},
		{"paged", resonance.HistoryFilter{Limit: 2, Offset: 1}, all[1:3]},
		{"last page", resonance.HistoryFilter{Limit: 5, Offset: 5}, all[5:]},
		{"since", resonance.HistoryFilter{Since: time.Now().Add(-30 * time.Minute)}, all[:5]},
		{"a node's since", resonance.HistoryFilter{NodeID: "a", Since: time.Now().Add(-30 * time.Minute)}, []row{all[0], all[3], all[4]}},
		{"nothing", resonance.HistoryFilter{NodeID: "zzz"}, nil},
	} {
		if diff := cmp.Diff(tc.want, rows(history(t, s, tc.f))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		_, err := r.History(ctx, resonance.HistoryFilter{Limit: -1})
		return err
	})
	if !errors.Is(err, resonance.ErrInvalid) {
		t.Errorf("History with a negative limit: %v, want ErrInvalid", err)
	}
}

// TestReadTx_History_ForeignRows: rows another program wrote, with a
// value that is not JSON and a timestamp that is not one, still read.
func TestReadTx_History_ForeignRows(t *testing.T) {
	s := openStore(t, resonance.Options{})
	if _, err := s.DB().Exec(`INSERT INTO history (entity_type, entity_id, action, old_value, new_value, timestamp) VALUES ('node', 'x', 'edit', 'not json', '{"ok":true}', 'yesterday')`); err != nil {
		t.Fatal(err)
	}
	got := history(t, s, resonance.HistoryFilter{})
	want := []resonance.Change{{ID: 1, Entity: "node", EntityID: "x", Action: "edit", Old: json.RawMessage(`"not json"`), New: json.RawMessage(`{"ok":true}`)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
