package enroll

import (
	"net/netip"
	"strings"
	"time"
)

// Modes of a Policy.
const (
	ModeOpen     = "open"
	ModeInvite   = "invite"
	ModeNetworks = "networks"
)

// Reasons a first enrollment is refused (Verdict.Reason, the audit log's
// "reason").
const (
	ReasonInviteRequired  = "invite_required"   // invite mode, no invitation
	ReasonNetwork         = "network"           // networks mode, client outside them
	ReasonClosed          = "closed"            // after open_until
	ReasonInviteInvalid   = "invite_invalid"    // an invitation that does not verify
	ReasonInviteExpired   = "invite_expired"    // an invitation past its expiry
	ReasonInviteOtherUser = "invite_other_user" // an invitation for someone else
	ReasonInviteUsed      = "invite_used"       // an invitation already used
)

// Policy decides who may create a user's first enrollment. A nil *Policy
// is open: the first login enrolls (trust on first use).
type Policy struct {
	// Mode is ModeOpen, ModeInvite or ModeNetworks ("": open).
	Mode string
	// Networks are the client networks of ModeNetworks.
	Networks []netip.Prefix
	// OpenUntil, if not zero, is when enrollment without an invitation
	// ends, in every mode.
	OpenUntil time.Time
	// Contact is whom a refused user should ask (shown on the page).
	Contact string
	// Invites reads invitation tokens (nil: none are accepted).
	Invites *Invites
}

// Request is one first-enrollment attempt.
type Request struct {
	// User is the held login's user: the identity the app authenticated.
	User string
	// ClientIP is the client's address (clientip resolver).
	ClientIP string
	// Invite is an invitation token the client brought ("": none).
	Invite string
	Now    time.Time
}

// Verdict is Decide's answer.
type Verdict struct {
	Allowed bool
	// Via is what allowed it: open, networks or invite.
	Via string
	// Reason is why it was refused (Reason* constants).
	Reason string
	// Invite is the invitation that allowed it: claim it (Invites.Claim)
	// when the enrollment is stored, so it works once.
	Invite *Invite
}

// Decide is the one decision on a first enrollment. A valid, unexpired
// invitation for exactly this user allows it in every mode and after
// OpenUntil (an administrator asked for it); otherwise OpenUntil closes
// enrollment, then the mode decides. Whether an invitation was used
// already is checked when it is claimed.
func (p *Policy) Decide(q Request) Verdict {
	if p == nil {
		return Verdict{Allowed: true, Via: ModeOpen}
	}
	inviteProblem := ""
	if q.Invite != "" {
		inv, err := p.Invites.Read(q.Invite, q.Now)
		switch {
		case err == ErrExpired:
			inviteProblem = ReasonInviteExpired
		case err != nil:
			inviteProblem = ReasonInviteInvalid
		case inv.User != q.User:
			inviteProblem = ReasonInviteOtherUser
		default:
			return Verdict{Allowed: true, Via: ModeInvite, Invite: &inv}
		}
	}
	refuse := func(reason string) Verdict {
		if inviteProblem != "" {
			reason = inviteProblem
		}
		return Verdict{Reason: reason}
	}
	if !p.OpenUntil.IsZero() && !q.Now.Before(p.OpenUntil) {
		return refuse(ReasonClosed)
	}
	switch p.Mode {
	case ModeInvite:
		return refuse(ReasonInviteRequired)
	case ModeNetworks:
		a, err := netip.ParseAddr(strings.TrimSpace(q.ClientIP))
		if err == nil {
			a = a.Unmap()
			for _, n := range p.Networks {
				if n.Contains(a) {
					return Verdict{Allowed: true, Via: ModeNetworks}
				}
			}
		}
		return refuse(ReasonNetwork)
	}
	return Verdict{Allowed: true, Via: ModeOpen}
}
