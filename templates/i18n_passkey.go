package templates

// The passkey pages and messages (sign-in, enrollment, step-up), kept
// apart from the main catalog and merged into it at start.
var passkeyCatalog = map[string]map[string]string{
	"de": {
		"Use your passkey or security key to finish signing in as":                   "Verwenden Sie Ihren Passkey oder Sicherheitsschlüssel, um die Anmeldung abzuschließen als",
		"Use your passkey or security key":                                           "Passkey oder Sicherheitsschlüssel verwenden",
		"Or use your authenticator app":                                              "Oder verwenden Sie Ihre Authenticator-App",
		"Enter the 6-digit code from your authenticator app.":                        "Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App ein.",
		"This browser can't use passkeys here.":                                      "Dieser Browser kann hier keine Passkeys verwenden.",
		"Cancelled, or no passkey answered. Try again.":                              "Abgebrochen, oder kein Passkey hat geantwortet. Versuchen Sie es erneut.",
		"This authenticator already holds a passkey for you.":                        "Dieser Authenticator enthält bereits einen Passkey für Sie.",
		"The passkey did not work. Try again.":                                       "Der Passkey hat nicht funktioniert. Versuchen Sie es erneut.",
		"Name it (optional)":                                                         "Name (optional)",
		"YubiKey, laptop, phone…":                                                    "YubiKey, Laptop, Telefon …",
		"Passkeys need JavaScript in this browser.":                                  "Passkeys brauchen in diesem Browser JavaScript.",
		"Set up a passkey or security key":                                           "Passkey oder Sicherheitsschlüssel einrichten",
		"Set up a passkey":                                                           "Passkey einrichten",
		"Use an authenticator app instead":                                           "Stattdessen eine Authenticator-App verwenden",
		"Use a passkey or security key instead":                                      "Stattdessen einen Passkey oder Sicherheitsschlüssel verwenden",
		"This page needs a fresh confirmation. Use your passkey or security key for": "Diese Seite braucht eine neue Bestätigung. Verwenden Sie Ihren Passkey oder Sicherheitsschlüssel für",
		"with a passkey or security key: your phone, your computer's fingerprint or face unlock, or a USB or NFC key. You will also get recovery codes.": "mit einem Passkey oder Sicherheitsschlüssel: Ihrem Telefon, dem Fingerabdruck- oder Gesichtsentsperren Ihres Computers oder einem USB- oder NFC-Schlüssel. Sie erhalten außerdem Wiederherstellungscodes.",
		"That passkey did not work.":                       "Dieser Passkey hat nicht funktioniert.",
		"That passkey answer was already used. Try again.": "Diese Passkey-Antwort wurde schon verwendet. Versuchen Sie es erneut.",
		"The passkey could not be set up.":                 "Der Passkey konnte nicht eingerichtet werden.",
	},
	"fr": {
		"Use your passkey or security key to finish signing in as":                   "Utilisez votre clé d’accès ou votre clé de sécurité pour terminer la connexion en tant que",
		"Use your passkey or security key":                                           "Utiliser ma clé d’accès ou ma clé de sécurité",
		"Or use your authenticator app":                                              "Ou utilisez votre application d’authentification",
		"Enter the 6-digit code from your authenticator app.":                        "Saisissez le code à 6 chiffres de votre application d’authentification.",
		"This browser can't use passkeys here.":                                      "Ce navigateur ne peut pas utiliser de clés d’accès ici.",
		"Cancelled, or no passkey answered. Try again.":                              "Annulé, ou aucune clé d’accès n’a répondu. Réessayez.",
		"This authenticator already holds a passkey for you.":                        "Cet authentificateur contient déjà une clé d’accès pour vous.",
		"The passkey did not work. Try again.":                                       "La clé d’accès n’a pas fonctionné. Réessayez.",
		"Name it (optional)":                                                         "Nom (facultatif)",
		"YubiKey, laptop, phone…":                                                    "YubiKey, ordinateur portable, téléphone…",
		"Passkeys need JavaScript in this browser.":                                  "Les clés d’accès nécessitent JavaScript dans ce navigateur.",
		"Set up a passkey or security key":                                           "Configurer une clé d’accès ou une clé de sécurité",
		"Set up a passkey":                                                           "Configurer une clé d’accès",
		"Use an authenticator app instead":                                           "Utiliser plutôt une application d’authentification",
		"Use a passkey or security key instead":                                      "Utiliser plutôt une clé d’accès ou une clé de sécurité",
		"This page needs a fresh confirmation. Use your passkey or security key for": "Cette page nécessite une nouvelle confirmation. Utilisez votre clé d’accès ou votre clé de sécurité pour",
		"with a passkey or security key: your phone, your computer's fingerprint or face unlock, or a USB or NFC key. You will also get recovery codes.": "avec une clé d’accès ou une clé de sécurité : votre téléphone, le déverrouillage par empreinte ou par visage de votre ordinateur, ou une clé USB ou NFC. Vous recevrez aussi des codes de récupération.",
		"That passkey did not work.":                       "Cette clé d’accès n’a pas fonctionné.",
		"That passkey answer was already used. Try again.": "Cette réponse de clé d’accès a déjà été utilisée. Réessayez.",
		"The passkey could not be set up.":                 "La clé d’accès n’a pas pu être configurée.",
	},
	"es": {
		"Use your passkey or security key to finish signing in as":                   "Use su llave de acceso o llave de seguridad para terminar de iniciar sesión como",
		"Use your passkey or security key":                                           "Usar mi llave de acceso o llave de seguridad",
		"Or use your authenticator app":                                              "O use su aplicación de autenticación",
		"Enter the 6-digit code from your authenticator app.":                        "Introduzca el código de 6 dígitos de su aplicación de autenticación.",
		"This browser can't use passkeys here.":                                      "Este navegador no puede usar llaves de acceso aquí.",
		"Cancelled, or no passkey answered. Try again.":                              "Cancelado, o ninguna llave de acceso respondió. Inténtelo de nuevo.",
		"This authenticator already holds a passkey for you.":                        "Este autenticador ya tiene una llave de acceso suya.",
		"The passkey did not work. Try again.":                                       "La llave de acceso no funcionó. Inténtelo de nuevo.",
		"Name it (optional)":                                                         "Nombre (opcional)",
		"YubiKey, laptop, phone…":                                                    "YubiKey, portátil, teléfono…",
		"Passkeys need JavaScript in this browser.":                                  "Las llaves de acceso necesitan JavaScript en este navegador.",
		"Set up a passkey or security key":                                           "Configurar una llave de acceso o llave de seguridad",
		"Set up a passkey":                                                           "Configurar una llave de acceso",
		"Use an authenticator app instead":                                           "Usar una aplicación de autenticación en su lugar",
		"Use a passkey or security key instead":                                      "Usar una llave de acceso o llave de seguridad en su lugar",
		"This page needs a fresh confirmation. Use your passkey or security key for": "Esta página necesita una nueva confirmación. Use su llave de acceso o llave de seguridad para",
		"with a passkey or security key: your phone, your computer's fingerprint or face unlock, or a USB or NFC key. You will also get recovery codes.": "con una llave de acceso o llave de seguridad: su teléfono, el desbloqueo por huella o rostro de su ordenador, o una llave USB o NFC. También recibirá códigos de recuperación.",
		"That passkey did not work.":                       "Esa llave de acceso no funcionó.",
		"That passkey answer was already used. Try again.": "Esa respuesta de llave de acceso ya se usó. Inténtelo de nuevo.",
		"The passkey could not be set up.":                 "No se pudo configurar la llave de acceso.",
	},
}

func init() {
	for lang, msgs := range passkeyCatalog {
		for en, tr := range msgs {
			catalog[lang][en] = tr
		}
	}
}
