package redis

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vestibule-gw/vestibule/store"
)

var unhitScript = goredis.NewScript(`
local e = redis.call('HGET', KEYS[1], 'end')
if (not e) or tonumber(e) <= tonumber(ARGV[1]) then return 0 end
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n > 0 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
return 1`)

// Unhit takes back one event of key's current window, atomically.
func (s *Store) Unhit(ctx context.Context, key string, at time.Time) error {
	if err := unhitScript.Run(ctx, s.c, []string{s.prefix + "hit:" + key}, ms(at)).Err(); err != nil {
		return unavailable("taking back a count", err)
	}
	return nil
}

// Bans lists the bans in force at at whose key starts with prefix.
func (s *Store) Bans(ctx context.Context, prefix string, at time.Time) ([]store.Ban, error) {
	base := s.prefix + "ban:"
	iter := s.c.Scan(ctx, 0, escapeGlob(base+prefix)+"*", 500).Iterator()
	var out []store.Ban
	for iter.Next(ctx) {
		k := iter.Val()
		v, err := s.c.Get(ctx, k).Result()
		if errors.Is(err, goredis.Nil) {
			continue // ended meanwhile
		}
		if err != nil {
			return nil, unavailable("listing bans", err)
		}
		until, ok := unstamp(v)
		if ok && at.Before(until) {
			out = append(out, store.Ban{Key: strings.TrimPrefix(k, base), Until: until})
		}
	}
	if err := iter.Err(); err != nil {
		return nil, unavailable("listing bans", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// escapeGlob quotes the characters SCAN MATCH treats specially.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
