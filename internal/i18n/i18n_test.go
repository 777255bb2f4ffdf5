package i18n

import "testing"

func TestEveryCatalogueHasEveryEnglishKey(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(c) < 2 {
		t.Fatalf("catalogues %v, want English and a second language", c.Languages())
	}
	for lang, m := range c {
		if len(m) != len(c["en"]) {
			t.Errorf("%s has %d messages, English %d (a key English lacks)", lang, len(m), len(c["en"]))
		}
	}
}

func TestLanguageFromTheEnvironmentAndTheBrowser(t *testing.T) {
	c := Default
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, "en"},
		{"LANG German", map[string]string{"LANG": "de_DE.UTF-8"}, "de"},
		{"LC_ALL wins over LANG", map[string]string{"LC_ALL": "C", "LANG": "de_DE.UTF-8"}, "en"},
		{"LC_MESSAGES wins over LANG", map[string]string{"LC_MESSAGES": "de_AT", "LANG": "en_GB.UTF-8"}, "de"},
		{"no catalogue", map[string]string{"LANG": "fr_FR.UTF-8"}, "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.FromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Fatalf("FromEnv = %q, want %q", got, tc.want)
			}
		})
	}
	for header, want := range map[string]string{"de-DE,de;q=0.9,en;q=0.5": "de", "fr-FR, de;q=0.5": "de", "fr": "en", "": "en"} {
		if got := c.FromAcceptLanguage(header); got != want {
			t.Errorf("FromAcceptLanguage(%q) = %q, want %q", header, got, want)
		}
	}
	if got := c.Text("de", "no.such.key"); got != "no.such.key" {
		t.Errorf("a missing key shows %q", got)
	}
}
