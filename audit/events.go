package audit

// Event names the metrics count (metrics.LogHandler turns them into
// vestibule_logins_total, vestibule_challenges_total and
// vestibule_sms_total). They are constants so that a log call and the
// counter can't disagree on the spelling: a typo is a compile error, not a
// metric that silently stays at zero.
const (
	LoginHeld              = "login_held"
	LoginReleased          = "login_released"
	LoginAbandoned         = "login_abandoned"
	UpstreamSessionRevoked = "upstream_session_revoked"
	AttemptsExhausted      = "attempts_exhausted"
	ChallengeSent          = "challenge_sent"
	CodeAccepted           = "code_accepted"
	RecoveryCodeUsed       = "recovery_code_used"
	CodeRejected           = "code_rejected"
	CodeReplayed           = "code_replayed"
	SMSFailed              = "sms_failed"
	SMSRefused             = "sms_refused"

	// Changes a user makes on the security page (package account), counted
	// in vestibule_account_changes_total.
	TOTPReplaced          = "totp_replaced"
	PhoneChanged          = "phone_changed"
	FactorRemoved         = "factor_removed"
	PasskeyAdded          = "passkey_added"
	PasskeyRenamed        = "passkey_renamed"
	RecoveryCodesReplaced = "recovery_codes_replaced"
	DeviceRevoked         = "device_revoked"
	SessionsEnded         = "sessions_ended"
)

// Counted lists the events the metrics count beyond vestibule_events_total.
var Counted = []string{LoginHeld, LoginReleased, LoginAbandoned, UpstreamSessionRevoked, AttemptsExhausted,
	ChallengeSent, CodeAccepted, RecoveryCodeUsed, CodeRejected, CodeReplayed, SMSFailed, SMSRefused,
	TOTPReplaced, PhoneChanged, FactorRemoved, PasskeyAdded, PasskeyRenamed, RecoveryCodesReplaced, DeviceRevoked, SessionsEnded}
