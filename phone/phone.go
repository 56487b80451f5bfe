// Package phone parses, validates and normalises phone numbers to E.164
// with a maintained libphonenumber port, and shows them masked.
package phone

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid means the input is not a valid phone number.
var ErrInvalid = errors.New("not a valid phone number")

// Parse returns the E.164 form of raw ("+447700900123"). Numbers without a
// leading + or 00 are read in defaultRegion ("GB", "US", ...).
func Parse(raw, defaultRegion string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 40 {
		return "", ErrInvalid
	}
	n, err := phonenumbers.Parse(raw, strings.ToUpper(defaultRegion))
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", ErrInvalid
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// Region is the two-letter region of an E.164 number ("" if unknown).
func Region(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(n)
}

// Mobile reports whether the number can receive text messages as far as
// the numbering plan tells (mobile, or fixed-line-or-mobile).
func Mobile(e164 string) bool {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return false
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE, phonenumbers.PAGER, phonenumbers.UNKNOWN:
		return true
	}
	return false
}

// Kinds of numbers that carry premium rates or reach no country's mobile
// network: texts to them cost more and are what SMS pumping fraud sends
// to. The gateway refuses them unless the config allows the kind.
const (
	// NonGeographic: numbers of no country (+800, +808, +870 Inmarsat,
	// +878, +881 satellite phones, +882/+883 international networks, +888,
	// +979 international premium rate).
	NonGeographic = "non_geographic"
	PremiumRate   = "premium_rate"
	SharedCost    = "shared_cost"
	// Personal: personal numbering (forwarded anywhere, e.g. UK 070).
	Personal = "personal"
	// UAN: universal access numbers (companies' national numbers).
	UAN = "uan"
)

// CostlyKinds lists every kind CostlyKind returns.
var CostlyKinds = []string{NonGeographic, PremiumRate, SharedCost, Personal, UAN}

// CostlyKind returns the kind of a number that carries premium rates or
// belongs to no country (one of CostlyKinds), or "" for an ordinary
// mobile or fixed number.
func CostlyKind(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	if phonenumbers.GetRegionCodeForNumber(n) == "001" {
		return NonGeographic
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.PREMIUM_RATE:
		return PremiumRate
	case phonenumbers.SHARED_COST:
		return SharedCost
	case phonenumbers.PERSONAL_NUMBER:
		return Personal
	case phonenumbers.UAN:
		return UAN
	}
	return ""
}

// Allowed reports whether the number's region is in allow (empty: all).
func Allowed(e164 string, allow []string) bool {
	if len(allow) == 0 {
		return true
	}
	return slices.Contains(allow, Region(e164))
}

// Mask shows the country code and the last four digits: "+44 •••• ••4821".
func Mask(e164 string) string {
	if e164 == "" {
		return ""
	}
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return "•••"
	}
	national := phonenumbers.GetNationalSignificantNumber(n)
	if len(national) <= 4 {
		return fmt.Sprintf("+%d ••••", n.GetCountryCode())
	}
	hidden := len(national) - 4
	var b strings.Builder
	for i := 0; i < hidden; i++ {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteString("•")
	}
	return fmt.Sprintf("+%d %s%s", n.GetCountryCode(), b.String(), national[hidden:])
}
