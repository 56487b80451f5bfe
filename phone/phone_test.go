package phone

import "testing"

func TestParse(t *testing.T) {
	cases := []struct {
		raw, region, want string
		ok                bool
	}{
		{"+44 7400 123456", "", "+447400123456", true},
		{"07400 123456", "GB", "+447400123456", true},
		{"0044 7400 123456", "FR", "+447400123456", true},
		{"(415) 555-2671", "US", "+14155552671", true},
		{"+33 6 12 34 56 78", "US", "+33612345678", true},
		{"12345", "US", "", false},
		{"not a number", "US", "", false},
		{"", "US", "", false},
		{"+99 123 456", "", "", false},
	}
	for _, tc := range cases {
		got, err := Parse(tc.raw, tc.region)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q, %q) = %q, %v; want %q", tc.raw, tc.region, got, err, tc.want)
		}
	}
}

func TestMaskRegionAllowed(t *testing.T) {
	if got := Mask("+447400124821"); got != "+44 •••• ••4821" {
		t.Errorf("Mask = %q", got)
	}
	if Mask("") != "" {
		t.Error("Mask of no number")
	}
	if got := Mask("+14155552671"); got != "+1 •••• ••2671" {
		t.Errorf("Mask = %q", got)
	}
	if Region("+33612345678") != "FR" || Region("+447400123456") != "GB" {
		t.Error("Region")
	}
	if !Allowed("+33612345678", nil) || !Allowed("+33612345678", []string{"FR", "DE"}) || Allowed("+447400123456", []string{"FR"}) {
		t.Error("Allowed")
	}
	if !Mobile("+447400123456") || Mobile("+442079460000") {
		t.Error("Mobile: a UK mobile is mobile, a London landline is not")
	}
}

func TestCostlyKind(t *testing.T) {
	for in, want := range map[string]string{
		"+447400123456": "",
		"+33612345678":  "",
		"+14155550100":  "",
		"+870301234567": NonGeographic, // Inmarsat
		"+881612345678": NonGeographic, // Iridium
		"+883140012345": NonGeographic,
		"+80012345678":  NonGeographic,
		"+979123456789": NonGeographic,
		"+449012345678": PremiumRate,
		"+19005550100":  PremiumRate,
		"+447012345678": Personal,
		"+445512345678": UAN,
		"not a number":  "",
	} {
		if got := CostlyKind(in); got != want {
			t.Errorf("CostlyKind(%s) = %q, want %q", in, got, want)
		}
	}
}
