package memory

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// Unhit takes back one event of key's current window.
func (s *Store) Unhit(_ context.Context, key string, at time.Time) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	w, ok := s.hits[key]
	if ok && at.Before(w.end) && w.n > 0 {
		w.n--
		s.hits[key] = w
	}
	return nil
}

// Bans lists the bans in force at at whose key starts with prefix.
func (s *Store) Bans(_ context.Context, prefix string, at time.Time) ([]store.Ban, error) {
	s.cmu.Lock()
	var out []store.Ban
	for k, until := range s.bans {
		if strings.HasPrefix(k, prefix) && at.Before(until) {
			out = append(out, store.Ban{Key: k, Until: until})
		}
	}
	s.cmu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
