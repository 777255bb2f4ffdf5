package sshsftp

import (
	"errors"
	"fmt"
	"strings"
)

// supportedFlags is what the unsupported-option message lists: the options
// that matter for restic's sftp: backend (a few more harmless no-ops are
// accepted too: -x -a -n -C).
const supportedFlags = "-p -l -i -F -o -s -T -q -v -4 -6"

// cmdline is the parsed command line.
type cmdline struct {
	dest       string   // destination as given: host, user@host, ssh://…
	destAt     int      // how many of opts came before the destination
	command    []string // remote command (or subsystem name with -s)
	subsystem  bool     // -s
	configFile string   // -F (when configSet)
	configSet  bool
	opts       []option // -o, -p, -l, -i, -4, -6 in command-line order
	verbose    bool     // -v
	quiet      bool     // -q
	version    bool     // -V
	noStdin    bool     // -n
}

// option is one configuration keyword set on the command line, either with
// -o or through its flag (-p is Port, -l is User, -i is IdentityFile, -4/-6
// are AddressFamily).
type option struct {
	key   string // lower case
	value string
	flag  string // how it was given, for messages: "-p" or "-o Port"
}

const usageText = `usage: ssh [-46aCnqTvVx] [-F configfile] [-i identity_file] [-l login_name]
           [-o option] [-p port] destination [command [argument ...]]
       ssh [options] destination -s subsystem
(backupbot's built-in ssh client for restic's sftp: backend)`

// parseArgs reads the command line the way OpenSSH does: options may come
// before and after the destination; the first word that is not an option
// after the destination starts the command, whose words are never parsed.
func parseArgs(args []string) (*cmdline, error) {
	c := &cmdline{}
	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" {
			i++
			if c.dest == "" && i < len(args) {
				c.dest, c.destAt = args[i], len(c.opts)
				i++
			}
			c.command = args[i:]
			break
		}
		if len(a) < 2 || a[0] != '-' {
			if c.dest == "" {
				c.dest, c.destAt = a, len(c.opts)
				i++
				continue
			}
			c.command = args[i:]
			break
		}
		i++
		for j := 1; j < len(a); j++ {
			f := a[j]
			switch f {
			case 'V':
				c.version = true
				return c, nil
			case 's':
				c.subsystem = true
			case 'v':
				c.verbose = true
			case 'q':
				c.quiet = true
			case 'n':
				c.noStdin = true
			case 'T', 'x', 'a', 'C':
				// -T: we never allocate a pty; -x, -a: we never forward X11
				// or the agent; -C: compression is not implemented by
				// x/crypto/ssh, asking for it changes nothing but speed.
			case '4':
				c.opts = append(c.opts, option{key: "addressfamily", value: "inet", flag: "-4"})
			case '6':
				c.opts = append(c.opts, option{key: "addressfamily", value: "inet6", flag: "-6"})
			case 'p', 'l', 'i', 'F', 'o':
				var v string
				switch {
				case j+1 < len(a):
					v = a[j+1:]
				case i < len(args):
					v = args[i]
					i++
				default:
					return nil, fmt.Errorf("option requires an argument -- %c\n%s", f, usageText)
				}
				if err := c.setValue(f, v); err != nil {
					return nil, err
				}
				j = len(a)
			default:
				return nil, fmt.Errorf("unsupported option -%c (this is backupbot's built-in ssh client for restic's sftp: backend; it supports %s)", f, supportedFlags)
			}
		}
	}
	return c, nil
}

func (c *cmdline) setValue(f byte, v string) error {
	switch f {
	case 'p':
		c.opts = append(c.opts, option{key: "port", value: v, flag: "-p"})
	case 'l':
		c.opts = append(c.opts, option{key: "user", value: v, flag: "-l"})
	case 'i':
		c.opts = append(c.opts, option{key: "identityfile", value: v, flag: "-i"})
	case 'F':
		c.configFile, c.configSet = v, true
	case 'o':
		key, val, err := splitOption(v)
		if err != nil {
			return err
		}
		c.opts = append(c.opts, option{key: strings.ToLower(key), value: val, flag: "-o " + key})
	}
	return nil
}

// splitOption splits an -o argument: "Key=Value", "Key Value" or
// "Key = Value"; a value in double quotes loses them.
func splitOption(s string) (key, val string, err error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "= \t")
	if i <= 0 {
		if s == "" {
			return "", "", errors.New("-o needs Key=Value")
		}
		return "", "", fmt.Errorf("-o %s: missing value (use -o %s=VALUE)", s, s)
	}
	key = s[:i]
	rest := strings.TrimLeft(s[i:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	val = unquote(strings.TrimSpace(rest))
	if val == "" {
		return "", "", fmt.Errorf("-o %s: missing value (use -o %s=VALUE)", key, key)
	}
	return key, val, nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
