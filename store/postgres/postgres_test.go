package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

func TestDurable(t *testing.T) {
	storetest.Durable(t, func(t *testing.T, now func() time.Time) store.Durable {
		db, err := Open(context.Background(), testsvc.Postgres(t), now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestConcurrentMigrations: replicas starting together migrate once.
func TestConcurrentMigrations(t *testing.T) {
	url := testsvc.Postgres(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(context.Background(), url, nil)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

func TestBadURLHidesPassword(t *testing.T) {
	_, err := Open(context.Background(), "postgres://u:s3cret@127.0.0.1:1/db?sslmode=bogus", nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Open(ctx, "postgres://u:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("unreachable server: %v", err)
	}
}
