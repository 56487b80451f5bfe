// Package sqlstore is the durable store on SQL, written once for SQLite
// and PostgreSQL: enrollments (sealed TOTP secret, phone, last TOTP step),
// recovery-code hashes and the remembered-device log. A Dialect holds what
// differs between the two (placeholders, the migration lock, error text)
// and the versioned migrations, one SQL file each under
// migrations/<dialect>/, embedded.
//
// Every consuming operation is one conditional UPDATE, and every operation
// that changes several rows is one transaction, so replicas and goroutines
// sharing a database never both use the same TOTP step or recovery code.
// store/sqlite and store/postgres open the connection and hand it here.
package sqlstore
