// Command bareproxy is the reference: a default httputil.ReverseProxy, as
// people put in front of an app in ten lines.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9002", "address")
	upstream := flag.String("upstream", "http://127.0.0.1:9001", "upstream URL")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(*addr, httputil.NewSingleHostReverseProxy(u)))
}
