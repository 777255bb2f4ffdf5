package policy

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/recipe"
)

// parseEnv parses a policy from an env-file-like map; errors name ".env:<key>".
func parseEnv(env map[string]string) (Policy, error) {
	return Parse(func(key string) (string, bool) {
		v, ok := env[key]
		return v, ok
	}, func(key string) string { return ".env:" + key })
}

func TestParseDefaults(t *testing.T) {
	p, err := parseEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled || p.Class != Minor || p.Verify != DefaultVerify || p.MinAge != 0 ||
		len(p.Window) != 0 || p.Hold != nil || p.Probe != "" || p.Check != "" {
		t.Fatalf("defaults = %+v, want disabled, minor, verify %s and nothing else", p, DefaultVerify)
	}
}

func TestParseGoodValues(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value string
		check func(Policy) bool
	}{
		{"enable true", KeyEnable, "true", func(p Policy) bool { return p.Enabled }},
		{"enable TRUE", KeyEnable, "TRUE", func(p Policy) bool { return p.Enabled }},
		{"enable 1", KeyEnable, "1", func(p Policy) bool { return p.Enabled }},
		{"enable false", KeyEnable, "false", func(p Policy) bool { return !p.Enabled }},
		{"enable empty", KeyEnable, "", func(p Policy) bool { return !p.Enabled }},
		{"policy patch", KeyPolicy, "patch", func(p Policy) bool { return p.Class == Patch }},
		{"policy minor", KeyPolicy, "minor", func(p Policy) bool { return p.Class == Minor }},
		{"policy major", KeyPolicy, "major", func(p Policy) bool { return p.Class == Major }},
		{"policy notify", KeyPolicy, "notify", func(p Policy) bool { return p.Class == Notify }},
		{"policy any case", KeyPolicy, "Major", func(p Policy) bool { return p.Class == Major }},
		{"policy trimmed", KeyPolicy, "  patch \t", func(p Policy) bool { return p.Class == Patch }},
		{"policy empty is minor", KeyPolicy, "", func(p Policy) bool { return p.Class == Minor }},
		{"window", KeyWindow, "Mon-Fri 02:00-05:00 Europe/Berlin", func(p Policy) bool {
			return len(p.Window) == 1 && p.Window.String() == "Mon-Fri 02:00-05:00 Europe/Berlin" && p.Window[0].Loc.String() == "Europe/Berlin"
		}},
		{"two windows", KeyWindow, "Mon 02:00-03:00; Sat,Sun 10:00-12:00", func(p Policy) bool { return len(p.Window) == 2 }},
		{"min age days", KeyMinAge, "3d", func(p Policy) bool { return p.MinAge == 72*time.Hour }},
		{"min age hours", KeyMinAge, "36h", func(p Policy) bool { return p.MinAge == 36*time.Hour }},
		{"min age minutes", KeyMinAge, "90m", func(p Policy) bool { return p.MinAge == 90*time.Minute }},
		{"min age zero days", KeyMinAge, "0d", func(p Policy) bool { return p.MinAge == 0 }},
		{"hold", KeyHold, "1.3.0+2.4.1, 1.4.0+2.5,", func(p Policy) bool {
			return slices.Equal(p.Hold, []string{"1.3.0+2.4.1", "1.4.0+2.5"})
		}},
		{"hold old style tag", KeyHold, "v1.0.0", func(p Policy) bool { return slices.Equal(p.Hold, []string{"v1.0.0"}) }},
		{"verify", KeyVerify, "2m", func(p Policy) bool { return p.Verify == 2*time.Minute }},
		{"verify days", KeyVerify, "1d", func(p Policy) bool { return p.Verify == 24*time.Hour }},
		{"verify empty is default", KeyVerify, "", func(p Policy) bool { return p.Verify == DefaultVerify }},
		{"probe https", KeyProbe, "https://${DOMAIN}/health", func(p Policy) bool { return p.Probe == "https://${DOMAIN}/health" }},
		{"probe http", KeyProbe, "http://example.org", func(p Policy) bool { return p.Probe == "http://example.org" }},
		{"check", KeyCheck, "app healthcheck", func(p Policy) bool { return p.Check == "app healthcheck" }},
		{"check with args", KeyCheck, "app migrate --dry-run", func(p Policy) bool { return p.Check == "app migrate --dry-run" }},
		{"branch", KeyBranch, "main", func(p Policy) bool { return p.Branch == "main" }},
		{"branch with slash", KeyBranch, "release/next", func(p Policy) bool { return p.Branch == "release/next" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseEnv(map[string]string{tt.key: tt.value})
			if err != nil {
				t.Fatalf("%s=%q: %v", tt.key, tt.value, err)
			}
			if !tt.check(p) {
				t.Fatalf("%s=%q parsed as %+v", tt.key, tt.value, p)
			}
		})
	}
}

func TestParseBadValues(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value string
		want  string // in PolicyError.Want
	}{
		{"enable yes", KeyEnable, "yes", "true or false"},
		{"policy unknown", KeyPolicy, "everything", "patch, minor, major or notify"},
		{"window without range", KeyWindow, "02:00", "HH:MM-HH:MM"},
		{"window days only", KeyWindow, "Mon-Fri", "HH:MM-HH:MM"},
		{"window bad day", KeyWindow, "Funday 02:00-05:00", "unknown day"},
		{"window bad zone", KeyWindow, "02:00-05:00 Mars/Olympus", "unknown time zone"},
		{"min age words", KeyMinAge, "3 days", "3d, 36h or 90m"},
		{"min age negative days", KeyMinAge, "-1d", "3d, 36h or 90m"},
		{"min age negative", KeyMinAge, "-5m", "3d, 36h or 90m"},
		{"min age fractional days", KeyMinAge, "1.5d", "3d, 36h or 90m"},
		{"hold not a version", KeyHold, "1.3.0+2.4.1,latest", `"latest" is not a recipe version`},
		{"hold short version", KeyHold, "1.3", `"1.3" is not a recipe version`},
		{"verify zero", KeyVerify, "0s", "positive duration"},
		{"verify zero days", KeyVerify, "0d", "positive duration"},
		{"verify negative", KeyVerify, "-1m", "positive duration"},
		{"verify words", KeyVerify, "soon", "positive duration"},
		{"probe no scheme", KeyProbe, "example.org/health", "http:// or https://"},
		{"probe ftp", KeyProbe, "ftp://example.org", "http:// or https://"},
		{"check without function", KeyCheck, "app", "<service> <abra.sh function>"},
		{"branch option", KeyBranch, "--upload-pack=x", "branch name"},
		{"branch dots", KeyBranch, "main..x", "branch name"},
		{"branch space", KeyBranch, "my branch", "branch name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEnv(map[string]string{KeyEnable: "true", tt.key: tt.value})
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("%s=%q: err = %v, want a *PolicyError", tt.key, tt.value, err)
			}
			if pe.Key != tt.key || pe.Value != tt.value || pe.Where != ".env:"+tt.key {
				t.Fatalf("error names key %q value %q where %q; want %q %q %q", pe.Key, pe.Value, pe.Where, tt.key, tt.value, ".env:"+tt.key)
			}
			if !strings.Contains(pe.Want, tt.want) {
				t.Fatalf("Want = %q, want it to mention %q", pe.Want, tt.want)
			}
			msg := err.Error()
			for _, part := range []string{".env:" + tt.key, tt.key, tt.value, tt.want} {
				if !strings.Contains(msg, part) {
					t.Fatalf("message %q does not mention %q", msg, part)
				}
			}
		})
	}
}

func TestParseErrorValueIsTrimmed(t *testing.T) {
	_, err := parseEnv(map[string]string{KeyPolicy: "  sometimes "})
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Value != "sometimes" {
		t.Fatalf("err = %#v, want a *PolicyError with the trimmed value", err)
	}
}

func TestParseAge(t *testing.T) {
	good := map[string]time.Duration{
		"3d": 72 * time.Hour, "0d": 0, "1d": 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute,
		"1h30m": 90 * time.Minute, "45s": 45 * time.Second, "0": 0,
	}
	for in, want := range good {
		got, err := parseAge(in)
		if err != nil || got != want {
			t.Errorf("parseAge(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-2d", "-1h", "3w", "three days", "3 d"} {
		if got, err := parseAge(in); err == nil {
			t.Errorf("parseAge(%q) = %s, want an error", in, got)
		}
	}
}

func TestLabelsRoundTrip(t *testing.T) {
	env := map[string]string{
		KeyEnable: "true", KeyPolicy: "major", KeyWindow: "Mon-Fri 22:00-02:00 Europe/Berlin; Sat 10:00-12:00",
		KeyMinAge: "3d", KeyHold: "1.3.0+2.4.1,1.4.0+2.5", KeyVerify: "2m", KeyProbe: "https://${DOMAIN}/health",
		KeyCheck: "app healthcheck", KeyBranch: "main",
	}
	p, err := parseEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	labels := p.Labels("blog_example_org")
	want := map[string]string{
		"coop-cloud.blog_example_org.autoupdate":         "true",
		"coop-cloud.blog_example_org.autoupdate.policy":  "major",
		"coop-cloud.blog_example_org.autoupdate.window":  env[KeyWindow],
		"coop-cloud.blog_example_org.autoupdate.min-age": "3d",
		"coop-cloud.blog_example_org.autoupdate.hold":    "1.3.0+2.4.1,1.4.0+2.5",
		"coop-cloud.blog_example_org.autoupdate.verify":  "2m",
		"coop-cloud.blog_example_org.autoupdate.probe":   "https://${DOMAIN}/health",
		"coop-cloud.blog_example_org.autoupdate.check":   "app healthcheck",
		"coop-cloud.blog_example_org.autoupdate.branch":  "main",
	}
	if !maps.Equal(labels, want) {
		t.Fatalf("Labels =\n%v\nwant\n%v", labels, want)
	}
	// Labels of another stack on the same service must not be read.
	labels["coop-cloud.other.autoupdate.policy"] = "patch"
	back, err := FromLabels("blog_example_org", labels)
	if err != nil {
		t.Fatal(err)
	}
	if back.Enabled != p.Enabled || back.Class != p.Class || back.Window.String() != p.Window.String() ||
		back.MinAge != p.MinAge || !slices.Equal(back.Hold, p.Hold) || back.Verify != p.Verify ||
		back.Probe != p.Probe || back.Check != p.Check {
		t.Fatalf("FromLabels(Labels(p)) = %+v, want %+v", back, p)
	}
	if again := back.Labels("blog_example_org"); !maps.Equal(again, want) {
		t.Fatalf("labels after a round trip = %v, want %v", again, want)
	}
}

func TestLabelsEnableAlwaysSet(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{"nothing set", nil, map[string]string{"coop-cloud.s.autoupdate": "false"}},
		{"disabled", map[string]string{KeyEnable: "false"}, map[string]string{"coop-cloud.s.autoupdate": "false"}},
		{"empty enable", map[string]string{KeyEnable: ""}, map[string]string{"coop-cloud.s.autoupdate": "false"}},
		{"enabled", map[string]string{KeyEnable: "1"}, map[string]string{"coop-cloud.s.autoupdate": "true"}},
		{"empty keys are not mirrored", map[string]string{KeyEnable: "true", KeyPolicy: "", KeyHold: " "},
			map[string]string{"coop-cloud.s.autoupdate": "true"}},
		{"values as written", map[string]string{KeyPolicy: " Patch "},
			map[string]string{"coop-cloud.s.autoupdate": "false", "coop-cloud.s.autoupdate.policy": "Patch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseEnv(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Labels("s"); !maps.Equal(got, tt.want) {
				t.Fatalf("Labels = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFromLabelsError(t *testing.T) {
	_, err := FromLabels("s", map[string]string{"coop-cloud.s.autoupdate": "true", "coop-cloud.s.autoupdate.min-age": "soon"})
	var pe *PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *PolicyError", err)
	}
	if pe.Where != "label coop-cloud.s.autoupdate.min-age" || pe.Key != KeyMinAge || pe.Value != "soon" {
		t.Fatalf("error = %+v, want it to name the label, the key and the value", pe)
	}
}

func TestFromLabelsWithoutLabels(t *testing.T) {
	p, err := FromLabels("s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled || p.Class != Minor {
		t.Fatalf("policy without labels = %+v, want disabled and minor", p)
	}
}

func TestStepClass(t *testing.T) {
	tests := []struct {
		from, to string
		want     Class
	}{
		{"1.0.0+1.0", "1.0.1+1.0", Patch},
		{"1.0.0+1.0", "1.0.0+1.1", Patch},
		{"1.2.3+2.0", "1.2.10+3.0", Patch},
		{"1.0.0+1.0", "1.1.0+1.0", Minor},
		{"1.2.3+1.0", "1.3.0+9.9", Minor},
		{"1.0.0+1.0", "2.0.0+1.0", Major},
		{"1.9.9+5.0", "2.0.0+5.0", Major},
		{"v1.0.0", "1.0.1+2.0", Patch},
	}
	for _, tt := range tests {
		from, err := recipe.ParseVersion(tt.from)
		if err != nil {
			t.Fatal(err)
		}
		to, err := recipe.ParseVersion(tt.to)
		if err != nil {
			t.Fatal(err)
		}
		if got := StepClass(from, to); got != tt.want {
			t.Errorf("StepClass(%s, %s) = %s, want %s", tt.from, tt.to, got, tt.want)
		}
	}
	if got := StepClass(recipe.Version{}, recipe.Version{}); got != Major {
		t.Errorf("StepClass of zero versions = %s, want major", got)
	}
}

func TestClassAllows(t *testing.T) {
	classes := []Class{Notify, Patch, Minor, Major}
	want := map[Class][]Class{
		Notify: nil,
		Patch:  {Notify, Patch},
		Minor:  {Notify, Patch, Minor},
		Major:  {Notify, Patch, Minor, Major},
	}
	for _, c := range classes {
		for _, step := range []Class{Patch, Minor, Major} {
			if got := c.Allows(step); got != slices.Contains(want[c], step) {
				t.Errorf("%s.Allows(%s) = %v", c, step, got)
			}
		}
	}
	if Class("sometimes").Allows(Patch) {
		t.Error("an unknown class allows a patch update")
	}
}

func TestSmaller(t *testing.T) {
	tests := []struct{ a, b, want Class }{
		{Patch, Major, Patch}, {Major, Minor, Minor}, {Minor, Minor, Minor}, {Notify, Major, Notify}, {Major, Notify, Notify},
	}
	for _, tt := range tests {
		if got := Smaller(tt.a, tt.b); got != tt.want {
			t.Errorf("Smaller(%s, %s) = %s, want %s", tt.a, tt.b, got, tt.want)
		}
	}
}
