package sms

import (
	"context"
	"log/slog"
)

// Log writes messages to the log instead of sending them: for the demo and
// local development only. The gateway refuses it unless the config says
// sms.allow_log_sender: true, because the log then holds live codes.
type Log struct{ Logger *slog.Logger }

// Name implements Sender.
func (l *Log) Name() string { return "log" }

// Send implements Sender.
func (l *Log) Send(ctx context.Context, m Message) error {
	l.Logger.WarnContext(ctx, "SMS not sent (log sender, development only)", "event", "sms_logged", "to", m.To, "text", m.Text)
	return nil
}
