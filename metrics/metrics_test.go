package metrics

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vestibule-gw/vestibule/audit"
)

// TestCountedEvents: every event the metrics count beyond
// vestibule_events_total moves its own counter when a log line carries it.
// The log calls use the same audit constants, so a misspelt event can't
// leave a counter at zero unseen.
func TestCountedEvents(t *testing.T) {
	want := map[string]string{
		audit.LoginHeld:              `vestibule_logins_total{outcome="held"} 1`,
		audit.LoginReleased:          `vestibule_logins_total{outcome="released"} 1`,
		audit.LoginAbandoned:         `vestibule_logins_total{outcome="abandoned"} 1`,
		audit.UpstreamSessionRevoked: `vestibule_logins_total{outcome="abandoned"} 1`,
		audit.AttemptsExhausted:      `vestibule_logins_total{outcome="abandoned"} 1`,
		audit.ChallengeSent:          `vestibule_challenges_total{factor="sms",result="sent"} 1`,
		audit.CodeAccepted:           `vestibule_challenges_total{factor="sms",result="passed"} 1`,
		audit.RecoveryCodeUsed:       `vestibule_challenges_total{factor="sms",result="passed"} 1`,
		audit.CodeRejected:           `vestibule_challenges_total{factor="sms",result="failed"} 1`,
		audit.CodeReplayed:           `vestibule_challenges_total{factor="sms",result="failed"} 1`,
		audit.SMSFailed:              `vestibule_sms_total{provider="vonage",result="failed"} 1`,
		audit.SMSRefused:             `vestibule_sms_total{provider="",result="refused"} 1`,
		audit.TOTPReplaced:           `vestibule_account_changes_total{change="totp_replaced"} 1`,
		audit.PhoneChanged:           `vestibule_account_changes_total{change="phone_changed"} 1`,
		audit.FactorRemoved:          `vestibule_account_changes_total{change="factor_removed"} 1`,
		audit.PasskeyAdded:           `vestibule_account_changes_total{change="passkey_added"} 1`,
		audit.PasskeyRenamed:         `vestibule_account_changes_total{change="passkey_renamed"} 1`,
		audit.RecoveryCodesReplaced:  `vestibule_account_changes_total{change="recovery_codes_replaced"} 1`,
		audit.DeviceRevoked:          `vestibule_account_changes_total{change="device_revoked"} 1`,
		audit.SessionsEnded:          `vestibule_account_changes_total{change="sessions_ended"} 1`,
	}
	if len(want) != len(audit.Counted) {
		t.Fatalf("%d counted events, %d checked here", len(audit.Counted), len(want))
	}
	for _, event := range audit.Counted {
		t.Run(event, func(t *testing.T) {
			m := New(nil)
			log := slog.New(m.LogHandler(slog.NewTextHandler(io.Discard, nil)))
			log.Info("x", "event", event, "factor", "sms", "provider", "vonage", "reason", "timeout")
			w := httptest.NewRecorder()
			m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
			body := w.Body.String()
			if !strings.Contains(body, want[event]) {
				t.Errorf("after %s: no %s in\n%s", event, want[event], grepVestibule(body))
			}
			if !strings.Contains(body, `vestibule_events_total{event="`+event+`"} 1`) {
				t.Errorf("after %s: not in vestibule_events_total", event)
			}
		})
	}
}

func grepVestibule(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "vestibule_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
