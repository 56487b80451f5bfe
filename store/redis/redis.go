// Package redis is the ephemeral store on Redis (go-redis), for several
// gateway replicas sharing held logins, attempt counters, bans and
// revocations. Every check-and-update is one Lua script, atomic in Redis.
//
// Revocations are also kept in process, as the proxy checks them on every
// verified request: each replica applies its own at once and the others'
// through a pub/sub channel, and reloads them all whenever its subscription
// (re)starts, so a Redis outage ends with a consistent view.
//
// Scripts touch keys they compute from the prefix, so the store needs one
// Redis server (or a primary with replicas), not Redis Cluster.
package redis

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vestibule-gw/vestibule/config/defaults"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/revoked"
)

// keepExpired is how long an expired held login stays for PopExpiredHeld.
const keepExpired = 10 * time.Minute

// Options configure the store.
type Options struct {
	// URL is a redis:// or rediss:// (TLS) URL, credentials included.
	URL string
	// Prefix namespaces every key and the pub/sub channel ("": defaults.RedisPrefix).
	Prefix string
	Now    func() time.Time
	Logger *slog.Logger
	// RootCAs, if set, are the CAs trusted for a rediss:// URL.
	RootCAs *x509.CertPool
}

// Store is the Redis ephemeral store.
type Store struct {
	c      *goredis.Client
	prefix string
	now    func() time.Time
	log    *slog.Logger

	// rev is the in-process copy of the revocations, fed by Revoke, the
	// other replicas' messages and reloads.
	rev *revoked.View

	ps     *goredis.PubSub
	cancel context.CancelFunc
	done   chan struct{}
}

var _ store.Ephemeral = (*Store)(nil)

// Open connects and starts following revocations.
func Open(ctx context.Context, o Options) (*Store, error) {
	opts, err := goredis.ParseURL(o.URL)
	if err != nil {
		return nil, errors.New("redis: the URL is not a valid redis:// or rediss:// URL")
	}
	if opts.TLSConfig != nil && o.RootCAs != nil {
		opts.TLSConfig.RootCAs = o.RootCAs
	}
	opts.DialTimeout = 3 * time.Second
	opts.ReadTimeout = 3 * time.Second
	opts.WriteTimeout = 3 * time.Second
	// A caller's deadline (store.timeout) cuts a call to a hung server
	// short; without this go-redis waits out ReadTimeout whatever the ctx.
	opts.ContextTimeoutEnabled = true
	if o.Prefix == "" {
		o.Prefix = defaults.RedisPrefix
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Store{c: goredis.NewClient(opts), prefix: o.Prefix, now: o.Now, log: o.Logger, rev: revoked.New(o.Now)}
	if err := s.Ping(ctx); err != nil {
		s.c.Close()
		return nil, err
	}
	if err := s.reload(ctx); err != nil {
		s.c.Close()
		return nil, err
	}
	fctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	s.ps = s.c.Subscribe(fctx, s.channel())
	ready := make(chan struct{})
	go s.follow(fctx, ready)
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
	}
	return s, nil
}

func unavailable(op string, err error) error {
	return fmt.Errorf("redis: %s: %w: %w", op, store.ErrUnavailable, err)
}

func (s *Store) heldKey(id string) string { return s.prefix + "held:" + id }
func (s *Store) expKey() string           { return s.prefix + "held-exp" }
func (s *Store) revKey(k [32]byte) string { return s.prefix + "rev:" + hex.EncodeToString(k[:]) }
func (s *Store) channel() string          { return s.prefix + "revocations" }

func ms(t time.Time) int64 { return t.UnixMilli() }

// stamp encodes a time as "<ms> <nanos>": Lua compares the milliseconds
// (exact in a double), Go reads back the nanoseconds.
func stamp(t time.Time) string { return fmt.Sprintf("%d %d", t.UnixMilli(), t.UnixNano()) }

func unstamp(v string) (time.Time, bool) {
	_, ns, ok := strings.Cut(v, " ")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n).UTC(), true
}

// heldData is the part of a held login that doesn't change.
type heldData struct {
	ID, User, Kind, Next, RemoteIP, UserAgent string
	Session                                   map[string]string
	Status                                    int
	Header                                    map[string][]string
	Body                                      []byte
	Created, Expires                          time.Time
}

func (s *Store) ttl(until time.Time) time.Duration {
	d := until.Sub(s.now())
	if d < time.Second {
		d = time.Second
	}
	return d
}

// CreateHeld stores a new held login.
func (s *Store) CreateHeld(ctx context.Context, h *store.Held) error {
	d, err := json.Marshal(heldData{ID: h.ID, User: h.User, Kind: h.Kind, Next: h.Next, RemoteIP: h.RemoteIP, UserAgent: h.UserAgent,
		Session: h.Session, Status: h.Response.Status, Header: h.Response.Header, Body: h.Response.Body,
		Created: h.Created, Expires: h.Expires})
	if err != nil {
		return err
	}
	k := s.heldKey(h.ID)
	_, err = s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "d", d, "exp", ms(h.Expires), "n", h.Attempts, "enroll", h.EnrollSecret, "ver", stampOrEmpty(h.Verified),
			"phone", h.Phone, "smsh", hex.EncodeToString(h.SMSHash), "smsexp", ms(h.SMSExpires), "smsn", h.SMSAttempts, "smssent", stampOrEmpty(h.SMSSent))
		p.PExpire(ctx, k, s.ttl(h.Expires)+keepExpired)
		p.ZAdd(ctx, s.expKey(), goredis.Z{Score: float64(ms(h.Expires)), Member: h.ID})
		return nil
	})
	if err != nil {
		return unavailable("holding login", err)
	}
	return nil
}

func stampOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return stamp(t)
}

func decodeHeld(m map[string]string) (*store.Held, error) {
	var d heldData
	if err := json.Unmarshal([]byte(m["d"]), &d); err != nil {
		return nil, fmt.Errorf("redis: held login is corrupt: %w", err)
	}
	h := &store.Held{ID: d.ID, User: d.User, Kind: d.Kind, Next: d.Next, RemoteIP: d.RemoteIP, UserAgent: d.UserAgent,
		Session: d.Session, Created: d.Created, Expires: d.Expires}
	h.Response.Status, h.Response.Header, h.Response.Body = d.Status, d.Header, d.Body
	if h.Response.Header == nil {
		h.Response.Header = map[string][]string{}
	}
	if h.Session == nil {
		h.Session = map[string]string{}
	}
	h.Attempts, _ = strconv.Atoi(m["n"])
	if e := m["enroll"]; e != "" {
		h.EnrollSecret = []byte(e)
	}
	if v := m["ver"]; v != "" {
		h.Verified, _ = unstamp(v)
	}
	h.Phone = m["phone"]
	if v := m["smsh"]; v != "" {
		h.SMSHash, _ = hex.DecodeString(v)
		if e, err := strconv.ParseInt(m["smsexp"], 10, 64); err == nil {
			h.SMSExpires = time.UnixMilli(e).UTC()
		}
	}
	if v := m["smssent"]; v != "" {
		h.SMSSent, _ = unstamp(v)
	}
	h.SMSAttempts, _ = strconv.Atoi(m["smsn"])
	return h, nil
}

// Held returns an unexpired held login.
func (s *Store) Held(ctx context.Context, id string) (*store.Held, error) {
	m, err := s.c.HGetAll(ctx, s.heldKey(id)).Result()
	if err != nil {
		return nil, unavailable("reading held login", err)
	}
	if len(m) == 0 {
		return nil, store.ErrNotFound
	}
	h, err := decodeHeld(m)
	if err != nil {
		return nil, err
	}
	if !s.now().Before(h.Expires) {
		return nil, store.ErrNotFound
	}
	return h, nil
}

// live checks the held login exists and is unexpired (KEYS[1], ARGV[1]:
// now in ms); then the script's own part runs.
const live = `
local exp = redis.call('HGET', KEYS[1], 'exp')
if (not exp) or tonumber(exp) <= tonumber(ARGV[1]) then return false end
`

var (
	attemptScript = goredis.NewScript(live + `return redis.call('HINCRBY', KEYS[1], 'n', 1)`)
	setScript     = goredis.NewScript(live + `redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) return 1`)
	takeScript    = goredis.NewScript(live + `
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return all`)
	setSMSScript = goredis.NewScript(live + `
redis.call('HSET', KEYS[1], 'phone', ARGV[2], 'smsh', ARGV[3], 'smssent', ARGV[4], 'smsexp', ARGV[5], 'smsn', 0)
return 1`)
	// useSMSScript: 0 accepted, 1 wrong, 2 expired/none, 3 exhausted.
	useSMSScript = goredis.NewScript(live + `
local h = redis.call('HGET', KEYS[1], 'smsh')
local e = tonumber(redis.call('HGET', KEYS[1], 'smsexp') or '0')
if (not h) or h == '' or e <= tonumber(ARGV[1]) then return 2 end
local n = redis.call('HINCRBY', KEYS[1], 'smsn', 1)
if n > tonumber(ARGV[3]) then return 3 end
if h ~= ARGV[2] then return 1 end
redis.call('HSET', KEYS[1], 'smsh', '')
return 0`)
	popScript = goredis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local k = ARGV[3] .. id
  local all = redis.call('HGETALL', k)
  redis.call('DEL', k)
  redis.call('ZREM', KEYS[1], id)
  if #all > 0 then table.insert(out, all) end
end
return out`)
)

func notFound(err error, op string) error {
	if errors.Is(err, goredis.Nil) {
		return store.ErrNotFound
	}
	return unavailable(op, err)
}

// HeldAttempt counts one attempt atomically.
func (s *Store) HeldAttempt(ctx context.Context, id string) (int, error) {
	n, err := attemptScript.Run(ctx, s.c, []string{s.heldKey(id)}, ms(s.now())).Int()
	if err != nil {
		return 0, notFound(err, "counting attempt")
	}
	return n, nil
}

// SetHeldEnrollment stores the sealed secret of an enrollment in progress.
func (s *Store) SetHeldEnrollment(ctx context.Context, id string, sealed []byte) error {
	if err := setScript.Run(ctx, s.c, []string{s.heldKey(id)}, ms(s.now()), "enroll", sealed).Err(); err != nil {
		return notFound(err, "storing enrollment secret")
	}
	return nil
}

// MarkHeldVerified records that the second factor passed.
func (s *Store) MarkHeldVerified(ctx context.Context, id string, at time.Time) error {
	if err := setScript.Run(ctx, s.c, []string{s.heldKey(id)}, ms(s.now()), "ver", stamp(at)).Err(); err != nil {
		return notFound(err, "marking verified")
	}
	return nil
}

func pairs(v any) map[string]string {
	xs, _ := v.([]any)
	m := make(map[string]string, len(xs)/2)
	for i := 0; i+1 < len(xs); i += 2 {
		k, _ := xs[i].(string)
		val, _ := xs[i+1].(string)
		m[k] = val
	}
	return m
}

// SetHeldSMS stores a new text-message code's hash on the held login.
func (s *Store) SetHeldSMS(ctx context.Context, id, phone string, hash []byte, sentAt, expires time.Time) error {
	err := setSMSScript.Run(ctx, s.c, []string{s.heldKey(id)}, ms(s.now()), phone, hex.EncodeToString(hash), stamp(sentAt), ms(expires)).Err()
	if err != nil {
		return notFound(err, "storing text-message code")
	}
	return nil
}

// UseHeldSMS checks and consumes a text-message code in one script. The
// hashes compared are SHA-256 of the code: equality leaks nothing usable.
func (s *Store) UseHeldSMS(ctx context.Context, id string, hash []byte, at time.Time, maxAttempts int) (store.SMSResult, error) {
	n, err := useSMSScript.Run(ctx, s.c, []string{s.heldKey(id)}, ms(at), hex.EncodeToString(hash), maxAttempts).Int()
	if err != nil {
		return store.SMSExpired, notFound(err, "checking text-message code")
	}
	return [...]store.SMSResult{store.SMSAccepted, store.SMSWrong, store.SMSExpired, store.SMSExhausted}[n], nil
}

// TakeHeld removes and returns the held login, for exactly one caller.
func (s *Store) TakeHeld(ctx context.Context, id string) (*store.Held, error) {
	v, err := takeScript.Run(ctx, s.c, []string{s.heldKey(id), s.expKey()}, ms(s.now()), id).Result()
	if err != nil {
		return nil, notFound(err, "taking held login")
	}
	return decodeHeld(pairs(v))
}

// DeleteHeld discards a held login.
func (s *Store) DeleteHeld(ctx context.Context, id string) error {
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, s.heldKey(id))
		p.ZRem(ctx, s.expKey(), id)
		return nil
	})
	if err != nil {
		return unavailable("discarding held login", err)
	}
	return nil
}

// PopExpiredHeld removes and returns up to max expired held logins.
func (s *Store) PopExpiredHeld(ctx context.Context, at time.Time, max int) ([]*store.Held, error) {
	v, err := popScript.Run(ctx, s.c, []string{s.expKey()}, ms(at), max, s.prefix+"held:").Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, unavailable("collecting expired held logins", err)
	}
	xs, _ := v.([]any)
	out := make([]*store.Held, 0, len(xs))
	for _, x := range xs {
		h, err := decodeHeld(pairs(x))
		if err != nil {
			s.log.Error("skipping a corrupt held login", "err", err)
			continue
		}
		out = append(out, h)
	}
	return out, nil
}

var (
	hitScript = goredis.NewScript(`
local e = redis.call('HGET', KEYS[1], 'end')
if (not e) or tonumber(e) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'n', 0, 'end', tonumber(ARGV[1]) + tonumber(ARGV[2]))
end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n`)
	// maxStamp keeps the later of the stored and the given stamp.
	banScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(string.match(cur, '^(%d+)')) >= tonumber(string.match(ARGV[1], '^(%d+)')) then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`)
	revokeScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local at, untl = ARGV[1], ARGV[2]
if cur then
  local cat, cuntil = string.match(cur, '^(%d+ %d+)|(%d+ %d+)$')
  if cat and tonumber(string.match(cat, '^(%d+)')) > tonumber(string.match(at, '^(%d+)')) then at = cat end
  if cuntil and tonumber(string.match(cuntil, '^(%d+)')) > tonumber(string.match(untl, '^(%d+)')) then untl = cuntil end
end
local v = at .. '|' .. untl
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[4] .. '=' .. v)
return v`)
)

// Hit counts an event for key in its current fixed window.
func (s *Store) Hit(ctx context.Context, key string, at time.Time, window time.Duration) (int, error) {
	n, err := hitScript.Run(ctx, s.c, []string{s.prefix + "hit:" + key}, ms(at), window.Milliseconds(), (window + time.Minute).Milliseconds()).Int()
	if err != nil {
		return 0, unavailable("counting", err)
	}
	return n, nil
}

// Reserve bans key until until unless it is banned at at, in one script.
func (s *Store) Reserve(ctx context.Context, key string, at, until time.Time) (time.Time, bool, error) {
	v, err := reserveScript.Run(ctx, s.c, []string{s.prefix + "ban:" + key}, stamp(until), s.ttl(until).Milliseconds(), ms(at)).Result()
	if err != nil {
		return time.Time{}, false, unavailable("reserving", err)
	}
	r, _ := v.([]any)
	if len(r) != 2 {
		return time.Time{}, false, unavailable("reserving", fmt.Errorf("unexpected answer %v", v))
	}
	won, _ := r[0].(int64)
	cur, _ := r[1].(string)
	t, ok := unstamp(cur)
	if !ok {
		return time.Time{}, false, unavailable("reserving", fmt.Errorf("unexpected ban %q", cur))
	}
	return t, won == 1, nil
}

var (
	// reserveScript sets the ban unless one is in force at ARGV[3] (ms):
	// {1, new} when it did, {0, current} when not.
	reserveScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(string.match(cur, '^(%d+)')) > tonumber(ARGV[3]) then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, ARGV[1]}`)
)

// ResetHits forgets key's count.
func (s *Store) ResetHits(ctx context.Context, key string) error {
	if err := s.c.Del(ctx, s.prefix+"hit:"+key).Err(); err != nil {
		return unavailable("resetting count", err)
	}
	return nil
}

// Ban bans key until until, never shortening a ban.
func (s *Store) Ban(ctx context.Context, key string, until time.Time) error {
	if err := banScript.Run(ctx, s.c, []string{s.prefix + "ban:" + key}, stamp(until), s.ttl(until).Milliseconds()).Err(); err != nil {
		return unavailable("banning", err)
	}
	return nil
}

// BannedUntil reports key's ban at at.
func (s *Store) BannedUntil(ctx context.Context, key string, at time.Time) (time.Time, bool, error) {
	v, err := s.c.Get(ctx, s.prefix+"ban:"+key).Result()
	if errors.Is(err, goredis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, unavailable("reading ban", err)
	}
	until, ok := unstamp(v)
	if !ok || !at.Before(until) {
		return time.Time{}, false, nil
	}
	return until, true, nil
}

// Revoke records a revocation in Redis, applies it here at once and
// publishes it to the other replicas.
func (s *Store) Revoke(ctx context.Context, key [32]byte, at, until time.Time) error {
	v, err := revokeScript.Run(ctx, s.c, []string{s.revKey(key), s.channel()},
		stamp(at), stamp(until), s.ttl(until).Milliseconds(), hex.EncodeToString(key[:])).Text()
	if err != nil {
		return unavailable("revoking", err)
	}
	s.apply(hex.EncodeToString(key[:]), v)
	return nil
}

// apply merges one "at|until" revocation into the in-process view.
func (s *Store) apply(hexKey, v string) {
	b, err := hex.DecodeString(hexKey)
	if err != nil || len(b) != 32 {
		return
	}
	a, u, ok := strings.Cut(v, "|")
	if !ok {
		return
	}
	at, ok1 := unstamp(a)
	until, ok2 := unstamp(u)
	if !ok1 || !ok2 {
		return
	}
	s.rev.Add([32]byte(b), at, until)
}

// RevokedAt answers from the in-process view: no round trip.
func (s *Store) RevokedAt(key [32]byte) (time.Time, bool) { return s.rev.RevokedAt(key) }

// reload reads every live revocation from Redis.
func (s *Store) reload(ctx context.Context) error {
	iter := s.c.Scan(ctx, 0, s.prefix+"rev:*", 500).Iterator()
	n := 0
	for iter.Next(ctx) {
		k := iter.Val()
		v, err := s.c.Get(ctx, k).Result()
		if err != nil {
			continue // expired meanwhile
		}
		s.apply(strings.TrimPrefix(k, s.prefix+"rev:"), v)
		n++
	}
	if err := iter.Err(); err != nil {
		return unavailable("loading revocations", err)
	}
	s.rev.Prune()
	return nil
}

// follow applies other replicas' revocations, reloading them all whenever
// the subscription (re)starts.
func (s *Store) follow(ctx context.Context, ready chan struct{}) {
	defer close(s.done)
	ps := s.ps
	once := sync.Once{}
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("redis revocation feed interrupted; retrying", "event", "store_error", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				if err := s.reload(ctx); err != nil {
					s.log.Warn("reloading revocations", "event", "store_error", "err", err)
				}
				once.Do(func() { close(ready) })
			}
		case *goredis.Message:
			if k, v, ok := strings.Cut(m.Payload, "="); ok {
				s.apply(k, v)
			}
		}
	}
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close stops following revocations and closes the client.
func (s *Store) Close() error {
	if s.cancel != nil {
		s.cancel()
		s.ps.Close() // unblocks a Receive waiting on the socket
		<-s.done
	}
	return s.c.Close()
}

// HeldCount reports the held logins waiting now (metrics).
func (s *Store) HeldCount(ctx context.Context) (int, error) {
	n, err := s.c.ZCount(ctx, s.expKey(), strconv.FormatInt(ms(s.now())+1, 10), "+inf").Result()
	if err != nil {
		return 0, unavailable("counting held logins", err)
	}
	return int(n), nil
}

// Unban lifts key's ban and forgets its count.
func (s *Store) Unban(ctx context.Context, key string) error {
	if err := s.c.Del(ctx, s.prefix+"ban:"+key, s.prefix+"hit:"+key).Err(); err != nil {
		return unavailable("unbanning", err)
	}
	return nil
}

func (s *Store) tokenKey(hash [32]byte) string {
	return s.prefix + "token:" + hex.EncodeToString(hash[:])
}

// PutToken records a released token's hash, expiring with the session.
func (s *Store) PutToken(ctx context.Context, hash [32]byte, user string, until time.Time) error {
	if err := s.c.Set(ctx, s.tokenKey(hash), strconv.FormatInt(until.UnixNano(), 10)+"\n"+user, s.ttl(until)).Err(); err != nil {
		return unavailable("registering token", err)
	}
	return nil
}

// Token returns the user of a live released token.
func (s *Store) Token(ctx context.Context, hash [32]byte, at time.Time) (string, error) {
	v, err := s.c.Get(ctx, s.tokenKey(hash)).Result()
	if errors.Is(err, goredis.Nil) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", unavailable("reading token", err)
	}
	ns, user, ok := strings.Cut(v, "\n")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !at.Before(time.Unix(0, n)) {
		return "", store.ErrNotFound
	}
	return user, nil
}

// DeleteToken forgets a token.
func (s *Store) DeleteToken(ctx context.Context, hash [32]byte) error {
	if err := s.c.Del(ctx, s.tokenKey(hash)).Err(); err != nil {
		return unavailable("forgetting token", err)
	}
	return nil
}
