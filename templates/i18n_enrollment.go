package templates

// The enrollment policy's pages (refusals, invitations), kept apart from
// the main catalog and merged into it at start.
var enrollmentCatalog = map[string]map[string]string{
	"de": {
		"Two-factor sign-in can't be set up here": "Die Zwei-Faktor-Anmeldung kann hier nicht eingerichtet werden",
		"Setting up two-factor sign-in for this account needs an invitation link. Open the link you were sent, then sign in again.":                   "Für die Einrichtung der Zwei-Faktor-Anmeldung dieses Kontos brauchen Sie einen Einladungslink. Öffnen Sie den Link, den Sie erhalten haben, und melden Sie sich dann erneut an.",
		"Two-factor sign-in can only be set up from your organisation's network. Connect to it (in the office or through the VPN) and sign in again.": "Die Zwei-Faktor-Anmeldung kann nur aus dem Netz Ihrer Organisation eingerichtet werden. Verbinden Sie sich damit (im Büro oder über das VPN) und melden Sie sich erneut an.",
		"Setting up two-factor sign-in on your own is no longer possible. You need an invitation link.":                                               "Die Zwei-Faktor-Anmeldung kann nicht mehr selbst eingerichtet werden. Sie brauchen einen Einladungslink.",
		"This invitation link can't be used: it has expired, was already used or is for another account.":                                             "Dieser Einladungslink kann nicht verwendet werden: Er ist abgelaufen, wurde schon benutzt oder gilt für ein anderes Konto.",
		"To get access, ask:":  "Für den Zugang wenden Sie sich an:",
		"Go to sign-in":        "Zur Anmeldung",
		"Invitation not valid": "Einladung ungültig",
		"Your invitation for %s is ready. Sign in to the application now (in this browser, within the hour) to set up two-factor sign-in.": "Ihre Einladung für %s ist bereit. Melden Sie sich jetzt (in diesem Browser, innerhalb einer Stunde) bei der Anwendung an, um die Zwei-Faktor-Anmeldung einzurichten.",
	},
	"fr": {
		"Two-factor sign-in can't be set up here": "La connexion à deux facteurs ne peut pas être configurée ici",
		"Setting up two-factor sign-in for this account needs an invitation link. Open the link you were sent, then sign in again.":                   "La configuration de la connexion à deux facteurs de ce compte nécessite un lien d’invitation. Ouvrez le lien que vous avez reçu, puis reconnectez-vous.",
		"Two-factor sign-in can only be set up from your organisation's network. Connect to it (in the office or through the VPN) and sign in again.": "La connexion à deux facteurs ne peut être configurée que depuis le réseau de votre organisation. Connectez-vous-y (au bureau ou par le VPN) et reconnectez-vous.",
		"Setting up two-factor sign-in on your own is no longer possible. You need an invitation link.":                                               "Il n’est plus possible de configurer vous-même la connexion à deux facteurs. Il vous faut un lien d’invitation.",
		"This invitation link can't be used: it has expired, was already used or is for another account.":                                             "Ce lien d’invitation ne peut pas être utilisé : il a expiré, a déjà servi ou concerne un autre compte.",
		"To get access, ask:":  "Pour obtenir l’accès, adressez-vous à :",
		"Go to sign-in":        "Aller à la connexion",
		"Invitation not valid": "Invitation non valide",
		"Your invitation for %s is ready. Sign in to the application now (in this browser, within the hour) to set up two-factor sign-in.": "Votre invitation pour %s est prête. Connectez-vous maintenant à l’application (dans ce navigateur, dans l’heure) pour configurer la connexion à deux facteurs.",
	},
	"es": {
		"Two-factor sign-in can't be set up here": "El inicio de sesión en dos pasos no se puede configurar aquí",
		"Setting up two-factor sign-in for this account needs an invitation link. Open the link you were sent, then sign in again.":                   "Para configurar el inicio de sesión en dos pasos de esta cuenta se necesita un enlace de invitación. Abra el enlace que recibió y vuelva a iniciar sesión.",
		"Two-factor sign-in can only be set up from your organisation's network. Connect to it (in the office or through the VPN) and sign in again.": "El inicio de sesión en dos pasos solo se puede configurar desde la red de su organización. Conéctese a ella (en la oficina o por la VPN) y vuelva a iniciar sesión.",
		"Setting up two-factor sign-in on your own is no longer possible. You need an invitation link.":                                               "Ya no es posible configurar por su cuenta el inicio de sesión en dos pasos. Necesita un enlace de invitación.",
		"This invitation link can't be used: it has expired, was already used or is for another account.":                                             "Este enlace de invitación no se puede usar: ha caducado, ya se usó o es para otra cuenta.",
		"To get access, ask:":  "Para obtener acceso, consulte a:",
		"Go to sign-in":        "Ir al inicio de sesión",
		"Invitation not valid": "Invitación no válida",
		"Your invitation for %s is ready. Sign in to the application now (in this browser, within the hour) to set up two-factor sign-in.": "Su invitación para %s está lista. Inicie sesión ahora en la aplicación (en este navegador, dentro de una hora) para configurar el inicio de sesión en dos pasos.",
	},
}

func init() { merge(enrollmentCatalog) }
