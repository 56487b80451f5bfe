package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/store"
)

// parseImportMFA: vestibule parse import-mfa. Users enrolled in Parse
// Server's own mfa auth adapter keep their second factor: their TOTP
// secret (authData.mfa.secret) or, for text-message users, their number
// (authData.mfa.mobile) is read with the master key and enrolled in the
// gateway (the secret sealed like every other); then, unless -keep-in-parse,
// authData.mfa is removed at Parse so Parse stops asking for it.
func parseImportMFA(ctx context.Context, args []string, o invocation) error {
	fs := flag.NewFlagSet("parse import-mfa", flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	path := fs.String("config", "config.yaml", "config file")
	appID := fs.String("app-id", "", "Parse application id (default: $PARSE_APP_ID)")
	keyFile := fs.String("master-key-file", "", "file holding Parse's master key (default: $PARSE_MASTER_KEY)")
	keep := fs.Bool("keep-in-parse", false, "leave authData.mfa at Parse (Parse keeps asking for its code)")
	dry := fs.Bool("dry-run", false, "report what would be imported, change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	master, _ := o.env("PARSE_MASTER_KEY")
	check := func(cfg *config.Config) error {
		if !cfg.Parse.Enabled {
			return errors.New("parse.enabled is false in the config: nothing to import into")
		}
		if *appID == "" {
			*appID, _ = o.env("PARSE_APP_ID")
		}
		if *keyFile != "" {
			b, err := os.ReadFile(*keyFile)
			if err != nil {
				return fmt.Errorf("-master-key-file: %w", err)
			}
			master = strings.TrimSpace(string(b))
		}
		if *appID == "" || master == "" {
			return errors.New("the Parse app id and master key are needed: -app-id or $PARSE_APP_ID, and -master-key-file or $PARSE_MASTER_KEY")
		}
		return nil
	}
	// The secrets are sealed as the gateway seals them: the encryption keys.
	a, err := start(ctx, *path, o, needs{keys: true, durable: true, check: check})
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.cfg
	u, err := url.Parse(cfg.Upstream.URL)
	if err != nil {
		return fmt.Errorf("upstream.url: %w", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.Trim(cfg.Parse.Mount, "/")
	p := &parseAdmin{base: u.String(), appID: *appID, master: master, client: &http.Client{Timeout: 30 * time.Second}}
	_, err = runImportMFA(ctx, o.stdout, a.log, p, a.db, a.sealer, importOptions{Region: cfg.SMS.DefaultRegion, Keep: *keep, DryRun: *dry, Now: time.Now})
	return err
}

// parseAdmin calls Parse Server's REST API with the master key.
type parseAdmin struct {
	base, appID, master string
	client              *http.Client
}

func (p *parseAdmin) do(ctx context.Context, method, route string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+"/"+route, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Parse-Application-Id", p.appID)
	req.Header.Set("X-Parse-Master-Key", p.master)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("calling Parse (%s %s): %w", method, route, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("parse server answered %s %s with %d: %.200s", method, route, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// parseUser is what the import reads of a _User.
type parseUser struct {
	ObjectID string `json:"objectId"`
	Username string `json:"username"`
	AuthData struct {
		MFA *struct {
			Secret   string   `json:"secret"`
			Recovery []string `json:"recovery"`
			Mobile   string   `json:"mobile"`
		} `json:"mfa"`
	} `json:"authData"`
}

// mfaUsers lists Parse's users, a page at a time in objectId order (the
// master key sees authData whole), and returns those with authData.mfa.
type mfaSource interface {
	do(ctx context.Context, method, route string, body any, out any) error
}

type importOptions struct {
	Region       string // default region for numbers without a country code
	Keep, DryRun bool
	Now          func() time.Time
}

// importReport counts what runImportMFA did.
type importReport struct {
	Imported, Skipped, Failed int
}

// runImportMFA reads Parse's users with authData.mfa and enrolls each in
// the gateway, reporting one line per user and a summary.
func runImportMFA(ctx context.Context, w io.Writer, log *slog.Logger, src mfaSource, db store.Durable, sealer *seal.Sealer, o importOptions) (importReport, error) {
	var rep importReport
	// Pages in objectId order by skip (Parse's PostgreSQL adapter can't
	// compare objectIds with $gt).
	for skip := 0; ; skip += 500 {
		var page struct {
			Results []parseUser `json:"results"`
		}
		route := fmt.Sprintf("classes/_User?limit=500&order=objectId&skip=%d", skip)
		if err := src.do(ctx, http.MethodGet, route, nil, &page); err != nil {
			return rep, err
		}
		for _, pu := range page.Results {
			if pu.AuthData.MFA == nil {
				continue
			}
			line, outcome := importOne(ctx, log, src, db, sealer, pu, o)
			fmt.Fprintf(w, "%s (%s): %s\n", pu.ObjectID, pu.Username, line)
			switch outcome {
			case "imported":
				rep.Imported++
			case "skipped":
				rep.Skipped++
			default:
				rep.Failed++
			}
		}
		if len(page.Results) < 500 {
			break
		}
	}
	verb := "imported"
	if o.DryRun {
		verb = "would import"
	}
	fmt.Fprintf(w, "%s %d, skipped %d, failed %d\n", verb, rep.Imported, rep.Skipped, rep.Failed)
	if rep.Failed > 0 {
		return rep, fmt.Errorf("%d users could not be imported (see above)", rep.Failed)
	}
	return rep, nil
}

func importOne(ctx context.Context, log *slog.Logger, src mfaSource, db store.Durable, sealer *seal.Sealer, pu parseUser, o importOptions) (string, string) {
	m := pu.AuthData.MFA
	user := pu.ObjectID // the gateway knows Parse users by objectId
	if _, err := db.Enrollment(ctx, user); err == nil {
		return "skipped: already enrolled in the gateway", "skipped"
	} else if !errors.Is(err, store.ErrNotFound) {
		return "failed: reading the gateway's store: " + err.Error(), "failed"
	}
	now := o.Now()
	e := store.Enrollment{User: user, CreatedAt: now}
	var what []string
	if m.Secret != "" {
		if _, err := factor.DefaultTOTP().Code(m.Secret, 0); err != nil {
			return "failed: the TOTP secret is not base32", "failed"
		}
		sealed, err := sealer.Seal([]byte(m.Secret), []byte(user))
		if err != nil {
			return "failed: sealing the secret: " + err.Error(), "failed"
		}
		e.TOTPSecret = sealed
		what = append(what, "authenticator (TOTP)")
	}
	if m.Mobile != "" {
		p, err := phone.Parse(m.Mobile, o.Region)
		if err != nil {
			return fmt.Sprintf("failed: the mobile number %s is not valid (include the country code)", phone.Mask(m.Mobile)), "failed"
		}
		e.Phone = p
		what = append(what, "text messages to "+phone.Mask(p))
	}
	if len(what) == 0 {
		return "skipped: Parse's mfa setup was never completed (no secret, no confirmed number)", "skipped"
	}
	line := "enrolled: " + strings.Join(what, " and ")
	if len(m.Recovery) > 0 {
		line += fmt.Sprintf("; Parse's %d recovery codes are not carried over (vestibule users recovery-codes -user %s)", len(m.Recovery), user)
	}
	if o.DryRun {
		return "would be " + line, "imported"
	}
	if err := db.EnrollNew(ctx, e); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "skipped: already enrolled in the gateway", "skipped"
		}
		return "failed: enrolling: " + err.Error(), "failed"
	}
	log.Warn("second factor imported from Parse's mfa adapter", "event", "mfa_imported", "user", user, "factors", strings.Join(what, ", "))
	if !o.Keep {
		body := map[string]any{"authData": map[string]any{"mfa": nil}}
		if err := src.do(ctx, http.MethodPut, "users/"+url.PathEscape(user), body, nil); err != nil {
			return line + "; but removing authData.mfa at Parse failed (Parse keeps asking for its code): " + err.Error(), "failed"
		}
		line += "; authData.mfa removed at Parse"
	}
	return line, "imported"
}
