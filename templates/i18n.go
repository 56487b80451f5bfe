package templates

import (
	"html/template"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Languages the gate pages speak; English is the fallback.
var Languages = []string{"en", "de", "fr", "es"}

// Negotiate picks the best supported language from an Accept-Language
// header (q-values honoured, region subtags ignored).
func Negotiate(accept string) string {
	type pref struct {
		lang string
		q    float64
		i    int
	}
	var prefs []pref
	for i, part := range strings.Split(accept, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if base != "" && q > 0 {
			prefs = append(prefs, pref{base, q, i})
		}
	}
	sort.SliceStable(prefs, func(a, b int) bool { return prefs[a].q > prefs[b].q })
	for _, p := range prefs {
		if slices.Contains(Languages, p.lang) {
			return p.lang
		}
	}
	return "en"
}

// T translates an English message; unknown messages stay English.
func T(lang, msg string) string {
	if t, ok := catalog[lang][msg]; ok {
		return t
	}
	return msg
}

// Funcs are the template functions: {{t .Lang "English text"}}.
func Funcs() template.FuncMap { return template.FuncMap{"t": T} }

// catalog holds the translations, keyed by the English text. Messages with
// numbers are format strings (%d, %s) translated before formatting.
var catalog = map[string]map[string]string{
	"de": {
		"We could not send a text message to this number. Please use another way to sign in, or ask your administrator to check the number.": "Wir konnten keine SMS an diese Nummer senden. Bitte melden Sie sich anders an oder lassen Sie die Nummer von Ihrem Administrator prüfen.",
		"We could not send the text message just now. Please try again in a moment, or use another way to sign in.":                          "Die SMS konnte gerade nicht gesendet werden. Bitte versuchen Sie es gleich noch einmal oder melden Sie sich anders an.",
		"Text messages can't be sent to numbers in this country. Please use another way to sign in.":                                         "An Nummern in diesem Land können keine SMS gesendet werden. Bitte melden Sie sich anders an.",
		"Too many text messages were sent for this sign-in recently. Please wait an hour or use another way to sign in.":                     "Für diese Anmeldung wurden zuletzt zu viele SMS gesendet. Bitte warten Sie eine Stunde oder melden Sie sich anders an.",
		"That is not a mobile number we can send text messages to. Include the country code, e.g. +44 7400 123456.":                          "Das ist keine Mobilnummer, an die wir SMS senden können. Geben Sie die Landesvorwahl mit an, z. B. +49 151 23456789.",
		"Protected by Vestibule two-factor sign-in":                  "Geschützt durch die Zwei-Faktor-Anmeldung von Vestibule",
		"Two-factor sign-in":                                         "Zwei-Faktor-Anmeldung",
		"Open your authenticator app and enter the 6-digit code for": "Öffnen Sie Ihre Authenticator-App und geben Sie den 6-stelligen Code ein für",
		"Authentication code":                                        "Bestätigungscode",
		"Verify":                                                     "Bestätigen",
		"Remember this device":                                       "Dieses Gerät merken",
		"Text a code to my phone instead":                            "Stattdessen einen Code per SMS senden",
		"Use a recovery code instead":                                "Stattdessen einen Wiederherstellungscode verwenden",
		"Use a recovery code":                                        "Wiederherstellungscode verwenden",
		"Enter one of the recovery codes you saved when you set up two-factor sign-in. Each code works once.": "Geben Sie einen der Wiederherstellungscodes ein, die Sie bei der Einrichtung gespeichert haben. Jeder Code funktioniert nur einmal.",
		"Recovery code":                      "Wiederherstellungscode",
		"Use your authenticator app":         "Authenticator-App verwenden",
		"Use your authenticator app instead": "Stattdessen die Authenticator-App verwenden",
		"Use an authenticator app instead":   "Stattdessen eine Authenticator-App verwenden",
		"Set up two-factor sign-in":          "Zwei-Faktor-Anmeldung einrichten",
		"Set up two-factor sign-in for":      "Zwei-Faktor-Anmeldung einrichten für",
		"Scan this code with an authenticator app (Google Authenticator, Aegis, 1Password, …).": "Scannen Sie diesen Code mit einer Authenticator-App (Google Authenticator, Aegis, 1Password, …).",
		"QR code for your authenticator app":                                                    "QR-Code für Ihre Authenticator-App",
		"Can't scan it? Enter this key by hand:":                                                "Scannen nicht möglich? Geben Sie diesen Schlüssel von Hand ein:",
		"Enter the first 6-digit code to confirm":                                               "Geben Sie zur Bestätigung den ersten 6-stelligen Code ein",
		"Confirm": "Bestätigen",
		"No authenticator app? Use text messages": "Keine Authenticator-App? SMS verwenden",
		"Save your recovery codes":                "Wiederherstellungscodes speichern",
		"Two-factor sign-in is on. If you lose your phone, sign in with one of these recovery codes. Each works once, and they are shown only now: save them somewhere safe.": "Die Zwei-Faktor-Anmeldung ist aktiv. Wenn Sie Ihr Telefon verlieren, melden Sie sich mit einem dieser Wiederherstellungscodes an. Jeder funktioniert einmal und sie werden nur jetzt angezeigt: Bewahren Sie sie sicher auf.",
		"I have saved my codes, continue": "Codes gespeichert, weiter",
		"Sign in again":                   "Erneut anmelden",
		"You're verified":                 "Bestätigt",
		"You're verified. Go back to the app to finish signing in.": "Sie sind bestätigt. Kehren Sie zur App zurück, um die Anmeldung abzuschließen.",
		"This link has expired. Please sign in again in the app.":   "Dieser Link ist abgelaufen. Bitte melden Sie sich in der App erneut an.",
		"Sign in with a text message":                               "Anmeldung per SMS",
		"We sent a code by text message to":                         "Wir haben einen Code per SMS gesendet an",
		"Enter it here.":                                            "Geben Sie ihn hier ein.",
		"Code from the text message":                                "Code aus der SMS",
		"Send a new code":                                           "Neuen Code senden",
		"We will send a code by text message to":                    "Wir senden einen Code per SMS an",
		"Text me a code":                                            "Code per SMS senden",
		"Sign in with text messages":                                "Anmeldung per SMS",
		"Get your sign-in codes by text message. Enter your mobile number, with its country code, for": "Erhalten Sie Ihre Anmeldecodes per SMS. Geben Sie Ihre Mobilnummer mit Landesvorwahl ein für",
		"Mobile number":    "Mobilnummer",
		"Send a code":      "Code senden",
		"Confirm it's you": "Bestätigen Sie Ihre Identität",
		"This page needs a fresh confirmation. Enter the 6-digit code from your authenticator app for": "Diese Seite erfordert eine erneute Bestätigung. Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App ein für",
		"That code is not valid.": "Dieser Code ist ungültig.",
		"%d attempts left.":       "Noch %d Versuche.",
		"%d attempts left with this code, %d for this sign-in.":                                                                             "Noch %d Versuche mit diesem Code, %d für diese Anmeldung.",
		"Text messages can't be sent to this kind of number (satellite, international or premium-rate). Please use another way to sign in.": "An diese Art von Nummer (Satellit, international oder Mehrwertdienst) können keine SMS gesendet werden. Bitte melden Sie sich anders an.",
		"Your sign-in has expired. Please sign in again.":                                                                                   "Ihre Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an.",
		"Your sign-in has expired or was already completed. Please sign in again.":                                                          "Ihre Anmeldung ist abgelaufen oder bereits abgeschlossen. Bitte melden Sie sich erneut an.",
		"This code was already used. Wait for the next one from your app.":                                                                  "Dieser Code wurde bereits verwendet. Warten Sie auf den nächsten aus Ihrer App.",
		"Your confirmation has expired. Confirm it's you, then send the form again: what you submitted was not sent.":                       "Ihre Bestätigung ist abgelaufen. Bestätigen Sie Ihre Identität und senden Sie das Formular dann erneut: Ihre Eingabe wurde nicht übermittelt.",
		"Please sign in again.": "Bitte melden Sie sich erneut an.",
		"Too many attempts":     "Zu viele Versuche",
		"Too many wrong codes. For your security this sign-in was cancelled. Please sign in again.":                             "Zu viele falsche Codes. Zu Ihrer Sicherheit wurde diese Anmeldung abgebrochen. Bitte melden Sie sich erneut an.",
		"Too many failed attempts. For your security, signing in is paused until %s (about %d minutes). Please try again then.": "Zu viele Fehlversuche. Zu Ihrer Sicherheit ist die Anmeldung bis %s (etwa %d Minuten) gesperrt. Bitte versuchen Sie es dann erneut.",
		"That code has expired. Send a new one.":                                                        "Dieser Code ist abgelaufen. Fordern Sie einen neuen an.",
		"Too many attempts with this code. Send a new one.":                                             "Zu viele Versuche mit diesem Code. Fordern Sie einen neuen an.",
		"A code was sent just now. You can ask for another in %d seconds.":                              "Soeben wurde ein Code gesendet. Einen neuen können Sie in %d Sekunden anfordern.",
		"Sign-in is temporarily unavailable. Please try again in a moment.":                             "Die Anmeldung ist vorübergehend nicht verfügbar. Bitte versuchen Sie es gleich noch einmal.",
		"This form has expired or was not sent from this site. Go back, reload the page and try again.": "Dieses Formular ist abgelaufen oder stammt nicht von dieser Seite. Gehen Sie zurück, laden Sie die Seite neu und versuchen Sie es erneut.",
	},
	"fr": {
		"We could not send a text message to this number. Please use another way to sign in, or ask your administrator to check the number.": "Impossible d'envoyer un SMS à ce numéro. Connectez-vous autrement, ou demandez à votre administrateur de vérifier le numéro.",
		"We could not send the text message just now. Please try again in a moment, or use another way to sign in.":                          "Le SMS n'a pas pu être envoyé pour l'instant. Réessayez dans un instant, ou connectez-vous autrement.",
		"Text messages can't be sent to numbers in this country. Please use another way to sign in.":                                         "Les SMS ne peuvent pas être envoyés vers ce pays. Connectez-vous autrement.",
		"Too many text messages were sent for this sign-in recently. Please wait an hour or use another way to sign in.":                     "Trop de SMS ont été envoyés récemment pour cette connexion. Attendez une heure ou connectez-vous autrement.",
		"That is not a mobile number we can send text messages to. Include the country code, e.g. +44 7400 123456.":                          "Ce n'est pas un numéro de mobile pouvant recevoir des SMS. Indiquez l'indicatif du pays, par ex. +33 6 12 34 56 78.",
		"Protected by Vestibule two-factor sign-in":                  "Protégé par la connexion à deux facteurs Vestibule",
		"Two-factor sign-in":                                         "Connexion à deux facteurs",
		"Open your authenticator app and enter the 6-digit code for": "Ouvrez votre application d'authentification et saisissez le code à 6 chiffres pour",
		"Authentication code":                                        "Code d'authentification",
		"Verify":                                                     "Vérifier",
		"Remember this device":                                       "Se souvenir de cet appareil",
		"Text a code to my phone instead":                            "Recevoir plutôt un code par SMS",
		"Use a recovery code instead":                                "Utiliser plutôt un code de secours",
		"Use a recovery code":                                        "Utiliser un code de secours",
		"Enter one of the recovery codes you saved when you set up two-factor sign-in. Each code works once.": "Saisissez l'un des codes de secours enregistrés lors de la configuration. Chaque code ne fonctionne qu'une fois.",
		"Recovery code":                      "Code de secours",
		"Use your authenticator app":         "Utiliser l'application d'authentification",
		"Use your authenticator app instead": "Utiliser plutôt l'application d'authentification",
		"Use an authenticator app instead":   "Utiliser plutôt une application d'authentification",
		"Set up two-factor sign-in":          "Configurer la connexion à deux facteurs",
		"Set up two-factor sign-in for":      "Configurer la connexion à deux facteurs pour",
		"Scan this code with an authenticator app (Google Authenticator, Aegis, 1Password, …).": "Scannez ce code avec une application d'authentification (Google Authenticator, Aegis, 1Password, …).",
		"QR code for your authenticator app":                                                    "Code QR pour votre application d'authentification",
		"Can't scan it? Enter this key by hand:":                                                "Impossible de scanner ? Saisissez cette clé à la main :",
		"Enter the first 6-digit code to confirm":                                               "Saisissez le premier code à 6 chiffres pour confirmer",
		"Confirm": "Confirmer",
		"No authenticator app? Use text messages": "Pas d'application d'authentification ? Utiliser les SMS",
		"Save your recovery codes":                "Enregistrez vos codes de secours",
		"Two-factor sign-in is on. If you lose your phone, sign in with one of these recovery codes. Each works once, and they are shown only now: save them somewhere safe.": "La connexion à deux facteurs est activée. Si vous perdez votre téléphone, connectez-vous avec l'un de ces codes de secours. Chacun fonctionne une fois et ils ne sont affichés que maintenant : gardez-les en lieu sûr.",
		"I have saved my codes, continue": "J'ai enregistré mes codes, continuer",
		"Sign in again":                   "Se reconnecter",
		"You're verified":                 "Vous êtes vérifié",
		"You're verified. Go back to the app to finish signing in.": "Vous êtes vérifié. Revenez à l’application pour terminer la connexion.",
		"This link has expired. Please sign in again in the app.":   "Ce lien a expiré. Veuillez vous reconnecter dans l’application.",
		"Sign in with a text message":                               "Connexion par SMS",
		"We sent a code by text message to":                         "Nous avons envoyé un code par SMS au",
		"Enter it here.":                                            "Saisissez-le ici.",
		"Code from the text message":                                "Code reçu par SMS",
		"Send a new code":                                           "Envoyer un nouveau code",
		"We will send a code by text message to":                    "Nous allons envoyer un code par SMS au",
		"Text me a code":                                            "M'envoyer un code par SMS",
		"Sign in with text messages":                                "Connexion par SMS",
		"Get your sign-in codes by text message. Enter your mobile number, with its country code, for": "Recevez vos codes de connexion par SMS. Saisissez votre numéro de mobile, avec l'indicatif du pays, pour",
		"Mobile number":    "Numéro de mobile",
		"Send a code":      "Envoyer un code",
		"Confirm it's you": "Confirmez votre identité",
		"This page needs a fresh confirmation. Enter the 6-digit code from your authenticator app for": "Cette page demande une nouvelle confirmation. Saisissez le code à 6 chiffres de votre application d'authentification pour",
		"That code is not valid.": "Ce code n'est pas valide.",
		"%d attempts left.":       "Encore %d essais.",
		"%d attempts left with this code, %d for this sign-in.":                                                                             "Encore %d essais avec ce code, %d pour cette connexion.",
		"Text messages can't be sent to this kind of number (satellite, international or premium-rate). Please use another way to sign in.": "Les SMS ne peuvent pas être envoyés à ce type de numéro (satellite, international ou surtaxé). Veuillez vous connecter autrement.",
		"Your sign-in has expired. Please sign in again.":                                                                                   "Votre connexion a expiré. Veuillez vous reconnecter.",
		"Your sign-in has expired or was already completed. Please sign in again.":                                                          "Votre connexion a expiré ou est déjà terminée. Veuillez vous reconnecter.",
		"This code was already used. Wait for the next one from your app.":                                                                  "Ce code a déjà été utilisé. Attendez le suivant dans votre application.",
		"Your confirmation has expired. Confirm it's you, then send the form again: what you submitted was not sent.":                       "Votre confirmation a expiré. Confirmez votre identité, puis renvoyez le formulaire : ce que vous avez saisi n'a pas été envoyé.",
		"Please sign in again.": "Veuillez vous reconnecter.",
		"Too many attempts":     "Trop de tentatives",
		"Too many wrong codes. For your security this sign-in was cancelled. Please sign in again.":                             "Trop de codes erronés. Pour votre sécurité, cette connexion a été annulée. Veuillez vous reconnecter.",
		"Too many failed attempts. For your security, signing in is paused until %s (about %d minutes). Please try again then.": "Trop de tentatives échouées. Pour votre sécurité, la connexion est suspendue jusqu'à %s (environ %d minutes). Veuillez réessayer ensuite.",
		"That code has expired. Send a new one.":                                                        "Ce code a expiré. Demandez-en un nouveau.",
		"Too many attempts with this code. Send a new one.":                                             "Trop de tentatives avec ce code. Demandez-en un nouveau.",
		"A code was sent just now. You can ask for another in %d seconds.":                              "Un code vient d'être envoyé. Vous pourrez en demander un autre dans %d secondes.",
		"Sign-in is temporarily unavailable. Please try again in a moment.":                             "La connexion est temporairement indisponible. Veuillez réessayer dans un instant.",
		"This form has expired or was not sent from this site. Go back, reload the page and try again.": "Ce formulaire a expiré ou ne vient pas de ce site. Revenez en arrière, rechargez la page et réessayez.",
	},
	"es": {
		"We could not send a text message to this number. Please use another way to sign in, or ask your administrator to check the number.": "No pudimos enviar un SMS a este número. Inicie sesión de otra forma o pida a su administrador que revise el número.",
		"We could not send the text message just now. Please try again in a moment, or use another way to sign in.":                          "No se pudo enviar el SMS ahora. Inténtelo de nuevo en un momento o inicie sesión de otra forma.",
		"Text messages can't be sent to numbers in this country. Please use another way to sign in.":                                         "No se pueden enviar SMS a números de este país. Inicie sesión de otra forma.",
		"Too many text messages were sent for this sign-in recently. Please wait an hour or use another way to sign in.":                     "Se enviaron demasiados SMS para este inicio de sesión. Espere una hora o inicie sesión de otra forma.",
		"That is not a mobile number we can send text messages to. Include the country code, e.g. +44 7400 123456.":                          "No es un número de móvil al que podamos enviar SMS. Incluya el prefijo del país, p. ej. +34 612 34 56 78.",
		"Protected by Vestibule two-factor sign-in":                  "Protegido por el inicio de sesión en dos pasos de Vestibule",
		"Two-factor sign-in":                                         "Inicio de sesión en dos pasos",
		"Open your authenticator app and enter the 6-digit code for": "Abra su aplicación de autenticación e introduzca el código de 6 dígitos para",
		"Authentication code":                                        "Código de verificación",
		"Verify":                                                     "Verificar",
		"Remember this device":                                       "Recordar este dispositivo",
		"Text a code to my phone instead":                            "Enviarme un código por SMS",
		"Use a recovery code instead":                                "Usar un código de recuperación",
		"Use a recovery code":                                        "Usar un código de recuperación",
		"Enter one of the recovery codes you saved when you set up two-factor sign-in. Each code works once.": "Introduzca uno de los códigos de recuperación que guardó al configurar el inicio de sesión en dos pasos. Cada código sirve una vez.",
		"Recovery code":                      "Código de recuperación",
		"Use your authenticator app":         "Usar la aplicación de autenticación",
		"Use your authenticator app instead": "Usar la aplicación de autenticación",
		"Use an authenticator app instead":   "Usar una aplicación de autenticación",
		"Set up two-factor sign-in":          "Configurar el inicio de sesión en dos pasos",
		"Set up two-factor sign-in for":      "Configurar el inicio de sesión en dos pasos para",
		"Scan this code with an authenticator app (Google Authenticator, Aegis, 1Password, …).": "Escanee este código con una aplicación de autenticación (Google Authenticator, Aegis, 1Password, …).",
		"QR code for your authenticator app":                                                    "Código QR para su aplicación de autenticación",
		"Can't scan it? Enter this key by hand:":                                                "¿No puede escanearlo? Introduzca esta clave a mano:",
		"Enter the first 6-digit code to confirm":                                               "Introduzca el primer código de 6 dígitos para confirmar",
		"Confirm": "Confirmar",
		"No authenticator app? Use text messages": "¿Sin aplicación de autenticación? Usar SMS",
		"Save your recovery codes":                "Guarde sus códigos de recuperación",
		"Two-factor sign-in is on. If you lose your phone, sign in with one of these recovery codes. Each works once, and they are shown only now: save them somewhere safe.": "El inicio de sesión en dos pasos está activado. Si pierde su teléfono, inicie sesión con uno de estos códigos de recuperación. Cada uno sirve una vez y solo se muestran ahora: guárdelos en un lugar seguro.",
		"I have saved my codes, continue": "He guardado mis códigos, continuar",
		"Sign in again":                   "Iniciar sesión de nuevo",
		"You're verified":                 "Verificado",
		"You're verified. Go back to the app to finish signing in.": "Ya está verificado. Vuelva a la aplicación para terminar de iniciar sesión.",
		"This link has expired. Please sign in again in the app.":   "Este enlace ha caducado. Inicie sesión de nuevo en la aplicación.",
		"Sign in with a text message":                               "Iniciar sesión por SMS",
		"We sent a code by text message to":                         "Hemos enviado un código por SMS al",
		"Enter it here.":                                            "Introdúzcalo aquí.",
		"Code from the text message":                                "Código del SMS",
		"Send a new code":                                           "Enviar un código nuevo",
		"We will send a code by text message to":                    "Enviaremos un código por SMS al",
		"Text me a code":                                            "Enviarme un código por SMS",
		"Sign in with text messages":                                "Iniciar sesión por SMS",
		"Get your sign-in codes by text message. Enter your mobile number, with its country code, for": "Reciba sus códigos de inicio de sesión por SMS. Introduzca su número de móvil, con el prefijo del país, para",
		"Mobile number":    "Número de móvil",
		"Send a code":      "Enviar un código",
		"Confirm it's you": "Confirme que es usted",
		"This page needs a fresh confirmation. Enter the 6-digit code from your authenticator app for": "Esta página requiere una nueva confirmación. Introduzca el código de 6 dígitos de su aplicación de autenticación para",
		"That code is not valid.": "Ese código no es válido.",
		"%d attempts left.":       "Quedan %d intentos.",
		"%d attempts left with this code, %d for this sign-in.":                                                                             "Quedan %d intentos con este código y %d para este inicio de sesión.",
		"Text messages can't be sent to this kind of number (satellite, international or premium-rate). Please use another way to sign in.": "No se pueden enviar SMS a este tipo de número (satélite, internacional o de tarificación adicional). Inicie sesión de otra forma.",
		"Your sign-in has expired. Please sign in again.":                                                                                   "Su inicio de sesión ha caducado. Vuelva a iniciar sesión.",
		"Your sign-in has expired or was already completed. Please sign in again.":                                                          "Su inicio de sesión ha caducado o ya se completó. Vuelva a iniciar sesión.",
		"This code was already used. Wait for the next one from your app.":                                                                  "Este código ya se utilizó. Espere el siguiente en su aplicación.",
		"Your confirmation has expired. Confirm it's you, then send the form again: what you submitted was not sent.":                       "Su confirmación ha caducado. Confirme su identidad y vuelva a enviar el formulario: lo que envió no se transmitió.",
		"Please sign in again.": "Vuelva a iniciar sesión.",
		"Too many attempts":     "Demasiados intentos",
		"Too many wrong codes. For your security this sign-in was cancelled. Please sign in again.":                             "Demasiados códigos incorrectos. Por su seguridad se canceló este inicio de sesión. Vuelva a iniciar sesión.",
		"Too many failed attempts. For your security, signing in is paused until %s (about %d minutes). Please try again then.": "Demasiados intentos fallidos. Por su seguridad, el inicio de sesión está en pausa hasta las %s (unos %d minutos). Inténtelo de nuevo entonces.",
		"That code has expired. Send a new one.":                                                        "Ese código ha caducado. Solicite uno nuevo.",
		"Too many attempts with this code. Send a new one.":                                             "Demasiados intentos con este código. Solicite uno nuevo.",
		"A code was sent just now. You can ask for another in %d seconds.":                              "Se acaba de enviar un código. Podrá pedir otro en %d segundos.",
		"Sign-in is temporarily unavailable. Please try again in a moment.":                             "El inicio de sesión no está disponible temporalmente. Inténtelo de nuevo en un momento.",
		"This form has expired or was not sent from this site. Go back, reload the page and try again.": "Este formulario ha caducado o no se envió desde este sitio. Vuelva atrás, recargue la página e inténtelo de nuevo.",
	},
}

// Has reports whether msg has a translation into lang (tests check that
// every message of a page has one).
func Has(lang, msg string) bool {
	_, ok := catalog[lang][msg]
	return ok
}

// merge adds a page group's messages (kept in a file of their own) to the
// catalog.
func merge(more map[string]map[string]string) {
	for lang, msgs := range more {
		for en, tr := range msgs {
			catalog[lang][en] = tr
		}
	}
}
