// Package i18n holds abra's message catalogues (messages/<lang>.json,
// embedded) and picks a language: from LC_ALL, LC_MESSAGES and LANG for the
// CLI, from Accept-Language for the dashboard. A message is looked up by key
// in the chosen language, then in English, then the key itself is shown;
// {0}, {1}, … in a message are replaced by the arguments.
//
// A message becomes translatable by giving it a key in messages/en.json and
// the same key in every other catalogue (a test refuses a catalogue that
// lacks a key of the English one), and printing Text(lang, key, args...)
// instead of the English string.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
)

//go:embed messages/*.json
var messageFS embed.FS

// Catalogues are the message catalogues by language.
type Catalogues map[string]map[string]string

// Load reads the embedded catalogues; every one must have every key of the
// English one.
func Load() (Catalogues, error) {
	out := Catalogues{}
	files, err := fs.Glob(messageFS, "messages/*.json")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		data, err := messageFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[strings.TrimSuffix(strings.TrimPrefix(f, "messages/"), ".json")] = m
	}
	if out["en"] == nil {
		return nil, fmt.Errorf("i18n: no English catalogue")
	}
	for lang, m := range out {
		for key := range out["en"] {
			if _, ok := m[key]; !ok {
				return nil, fmt.Errorf("messages/%s.json has no %q", lang, key)
			}
		}
	}
	return out, nil
}

// Default are the embedded catalogues (checked by the package's tests).
var Default = mustLoad()

func mustLoad() Catalogues {
	c, err := Load()
	if err != nil {
		panic(err) // the embedded files are part of the binary; the tests load them
	}
	return c
}

// Languages are the catalogues' languages, sorted.
func (c Catalogues) Languages() []string { return slices.Sorted(maps.Keys(c)) }

// Has reports whether there is a catalogue for lang.
func (c Catalogues) Has(lang string) bool { return c[lang] != nil }

// Text is the key's message in lang (else English, else the key) with {0},
// {1}, … replaced by args.
func (c Catalogues) Text(lang, key string, args ...any) string {
	msg, ok := c[lang][key]
	if !ok {
		msg, ok = c["en"][key]
	}
	if !ok {
		return key
	}
	for i, a := range args {
		msg = strings.ReplaceAll(msg, "{"+strconv.Itoa(i)+"}", fmt.Sprint(a))
	}
	return msg
}

// FromEnv is the CLI's language: the first of LC_ALL, LC_MESSAGES, LANG that
// is set (as POSIX orders them), reduced to a language with a catalogue
// (de_DE.UTF-8 → de); else English. C and POSIX are English.
func (c Catalogues) FromEnv(getenv func(string) string) string {
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := getenv(k)
		if v == "" {
			continue
		}
		if l := base(v); c.Has(l) {
			return l
		}
		return "en"
	}
	return "en"
}

// FromAcceptLanguage is the first language of an Accept-Language header
// with a catalogue, else English.
func (c Catalogues) FromAcceptLanguage(header string) string {
	for part := range strings.SplitSeq(header, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if l := base(tag); c.Has(l) {
			return l
		}
	}
	return "en"
}

// base is a locale's language: de_DE.UTF-8@euro, de-DE → de.
func base(locale string) string {
	l := strings.ToLower(strings.TrimSpace(locale))
	if i := strings.IndexAny(l, "_-.@"); i >= 0 {
		l = l[:i]
	}
	return l
}
