// Command mkcookie prints a Cookie header value with an app session and a
// gate cookie released for it, as a browser has after the second factor:
// the load test's verified session.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/vestibule-gw/vestibule/gate"
)

func main() {
	key := flag.String("key", "", "the gate key (base64), as in gate.keys")
	name := flag.String("session-cookie", "sid", "app session cookie name")
	value := flag.String("session", "0123456789abcdef0123456789abcdef", "app session value")
	flag.Parse()
	k, err := base64.StdEncoding.DecodeString(*key)
	if err != nil {
		log.Fatal("-key: not base64")
	}
	codec, err := gate.NewCodec("vestibule_gate", [][]byte{k}, nil)
	if err != nil {
		log.Fatal(err)
	}
	issuer := &gate.Issuer{Codec: codec, MaxAge: 12 * time.Hour}
	c, err := issuer.Cookie("bench", gate.Binding([]string{*name}, []string{*value}), time.Now())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s=%s; %s=%s\n", *name, *value, c.Name, c.Value)
}
