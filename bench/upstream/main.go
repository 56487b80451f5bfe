// Command upstream is the load test's app: /small answers 100 bytes,
// /big 1 MiB, both with Content-Length.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9001", "address")
	flag.Parse()
	small := []byte(strings.Repeat("s", 100))
	big := []byte(strings.Repeat("b", 1<<20))
	serve := func(b []byte) http.HandlerFunc {
		n := strconv.Itoa(len(b))
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", n)
			w.Write(b)
		}
	}
	http.HandleFunc("/small", serve(small))
	http.HandleFunc("/big", serve(big))
	log.Fatal(http.ListenAndServe(*addr, nil))
}
