package app

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask stands for a value a front end does not show.
const Mask = "••••••"

// EnvVar is one key of an app's env file as a front end shows it.
type EnvVar struct {
	Key    string `json:"key"`
	Value  string `json:"value"` // Mask when Masked
	Masked bool   `json:"masked"`
}

// secretWords are the parts of a key (split at '_') that make its value a
// secret: DB_PASSWORD, SMTP_PASS, API_KEY, GITEA_TOKEN, SECRET_KEY_BASE, …
var secretWords = []string{"PASSWORD", "PASSWD", "PASS", "PWD", "PW", "TOKEN", "SECRET", "KEY", "KEYS", "SALT",
	"PRIVATE", "CREDENTIAL", "CREDENTIALS", "AUTH", "APIKEY", "DSN", "CERT", "COOKIE", "SESSION", "SIGNATURE", "HMAC"}

// SecretLike reports whether an env key's value is a secret a front end
// must never show. One rule for every front end: a key starting with
// SECRET_ (the secrets' versions and settings), a key with a secret word as
// one of its '_'-separated parts (DB_PASSWORD, API_KEY, but not KEYCLOAK_URL),
// or a key naming one of the recipe's secrets (db_password → DB_PASSWORD).
func SecretLike(key string, secretNames []string) bool {
	k := strings.ToUpper(key)
	if strings.HasPrefix(k, "SECRET_") {
		return true
	}
	for part := range strings.SplitSeq(k, "_") {
		if slices.Contains(secretWords, part) {
			return true
		}
	}
	for _, n := range secretNames {
		if strings.EqualFold(n, key) {
			return true
		}
	}
	return false
}

// minSecretLen is the shortest secret value looked for inside other values:
// shorter ones ("true", "1") would hide harmless values that contain them.
// A secret-like key's own value is masked whatever its length.
const minSecretLen = 6

// ShownEnv is the app's env file, key by key in the file's order, with every
// secret-like value masked (SecretLike), and every other value masked too
// when it carries credentials in a URL (postgres://user:pass@db) or holds a
// secret-like key's value (DATABASE_URL built from ${DB_PASSWORD}).
func ShownEnv(a *App, secretNames []string) []EnvVar {
	keys := a.Env.Keys()
	values := a.Env.Values()
	var secrets []string
	for _, k := range keys {
		if v := values[k]; SecretLike(k, secretNames) && len(v) >= minSecretLen {
			secrets = append(secrets, v)
		}
	}
	out := make([]EnvVar, 0, len(keys))
	for _, k := range keys {
		if slices.ContainsFunc(out, func(e EnvVar) bool { return e.Key == k }) {
			continue
		}
		v := values[k]
		masked := SecretLike(k, secretNames) || hasURLCredentials(v) ||
			slices.ContainsFunc(secrets, func(s string) bool { return strings.Contains(v, s) })
		if masked {
			v = Mask
		}
		out = append(out, EnvVar{Key: k, Value: v, Masked: masked})
	}
	return out
}

func hasURLCredentials(v string) bool {
	for field := range strings.FieldsSeq(v) {
		if u, err := url.Parse(field); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				return true
			}
		}
	}
	return false
}

// SecretValues are the env values ShownEnv masks (of minSecretLen bytes or more), for
// a front end to redact wherever they could appear (a deploy's diff shows a
// service's environment).
func SecretValues(a *App, secretNames []string) []string {
	var out []string
	values := a.Env.Values()
	for _, v := range ShownEnv(a, secretNames) {
		if raw := values[v.Key]; v.Masked && len(raw) >= minSecretLen && !slices.Contains(out, raw) {
			out = append(out, raw)
		}
	}
	return out
}

// assignment is KEY=value in a rendered list ("DB_PASSWORD=x","DOMAIN=y").
var assignment = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]*)=([^"\s,\]]*)`)

// Redact replaces every secret in s by Mask: the given values, and the value
// of every KEY=value whose key is secret-like (a running service's old
// environment holds values the env file no longer has).
func Redact(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, Mask)
	}
	return assignment.ReplaceAllStringFunc(s, func(m string) string {
		k, _, _ := strings.Cut(m, "=")
		if SecretLike(k, nil) {
			return k + "=" + Mask
		}
		return m
	})
}
