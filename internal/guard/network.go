package guard

import "strings"

// NetworkName checks a Docker network name given by an operator (abra ci's
// networks to create): letters, digits and "_.-", as Docker allows them,
// never an option.
func NetworkName(s string) error {
	return component("network name", s, "want a network name like proxy",
		func(r rune) bool { return isLower(r) || isUpper(r) || isDigit(r) || strings.ContainsRune("-._", r) })
}
