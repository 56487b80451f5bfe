package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Env looks up environment variables (os.LookupEnv in production).
type Env func(string) (string, bool)

// Version is the build's version, set by main.
var Version = "dev"

// invocation is what every command runs with besides its arguments.
type invocation struct {
	stdout, stderr io.Writer
	env            Env
	demoConfig     []byte // the embedded config.yaml the demo runs
}

// commands maps a command as typed (one word, or two: "users list") to
// the function that runs it with the arguments that follow.
var commands = map[string]func(ctx context.Context, args []string, o invocation) error{
	"serve":                serve,
	"demo":                 demo,
	"config check":         configCheck,
	"keys generate":        keysGenerate,
	"users list":           usersList,
	"users show":           usersShow,
	"users reset":          usersReset,
	"users recovery-codes": usersRecoveryCodes,
	"users unlock":         usersUnlock,
	"users set-phone":      usersSetPhone,
	"users invite":         invite,
	"devices revoke":       devicesRevoke,
	"ips list":             ipsList,
	"ips unlock":           ipsUnlock,
	"parse import-mfa":     parseImportMFA,
	"health":               health,
	"version":              version,
	"-version":             version,
	"--version":            version,
	"help":                 help,
	"-h":                   help,
	"--help":               help,
}

// Run executes one vestibule command. demoConfig is the top-level
// config.yaml, embedded in the binary, which the demo command runs. A
// command's -h prints its usage and is no error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, demoConfig []byte) error {
	err := runCommand(ctx, args, invocation{stdout: stdout, stderr: stderr, env: env, demoConfig: demoConfig})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runCommand(ctx context.Context, args []string, o invocation) error {
	if len(args) == 0 {
		usage(o.stderr)
		return errors.New("no command")
	}
	if run, ok := commands[args[0]]; ok {
		return run(ctx, args[1:], o)
	}
	if len(args) > 1 {
		if run, ok := commands[args[0]+" "+args[1]]; ok {
			return run(ctx, args[2:], o)
		}
	}
	usage(o.stderr)
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func version(_ context.Context, _ []string, o invocation) error {
	fmt.Fprintln(o.stdout, "vestibule", Version)
	return nil
}

func help(_ context.Context, _ []string, o invocation) error {
	usage(o.stdout)
	return nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  vestibule demo [-listen ADDR]          run the gateway in front of a built-in demo app
  vestibule serve [-config FILE]         run the gateway (default config.yaml)
  vestibule config check [-config FILE]  validate a config and list every problem
  vestibule keys generate                print fresh keys for the config's secrets
  vestibule users reset -user NAME [-config FILE]
                                         remove a user's second factor (they enroll again)
  vestibule users invite NAME [-ttl 72h] [-config FILE]
                                         print a one-time link that lets NAME enroll a second factor
  vestibule users list [-config FILE]    who is enrolled, with which factors, last success
  vestibule users show -user NAME        one user's factors (phone masked)
  vestibule users recovery-codes -user NAME
                                         issue a new set of recovery codes, printed once
  vestibule users unlock -user NAME      lift a user's ban and text-message limits (store.redis or the SQLite ephemeral store)
  vestibule users set-phone -user NAME -number +447400123456 [-config FILE]
                                         set the number for a user's text-message codes
  vestibule devices revoke -user NAME [-config FILE]
                                         forget a user's remembered devices and end their open sessions
  vestibule ips list [-config FILE]      client addresses banned now
  vestibule ips unlock ADDR [-config FILE]
                                         lift an address's ban and text-message cap
  vestibule parse import-mfa [-config FILE] [-app-id ID] [-master-key-file F] [-dry-run] [-keep-in-parse]
                                         enroll users of Parse's own mfa adapter (authData.mfa) in the gateway
  (users reset also ends the user's open sessions on every replica; only
   users unlock and set-phone need secrets.encryption_keys in the environment)
  vestibule health [-url URL]            exit 0 if the admin /healthz answers (container HEALTHCHECK)
  vestibule version                      print the version
`)
}
