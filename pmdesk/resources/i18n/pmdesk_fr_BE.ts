<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_BE" sourcelanguage="en_GB">
<context>
    <name>AddressDialog</name>
    <message>
        <source>Address</source>
        <translation>Adresse</translation>
    </message>
    <message>
        <source>Address (view only)</source>
        <translation>Adresse (consultation seule)</translation>
    </message>
</context>
<context>
    <name>AuditLog</name>
    <message>
        <source>All logins</source>
        <extracomment>Families of events, as ``AuditService.query(event=...)`` accepts them.</extracomment>
        <translation>Toutes les connexions</translation>
    </message>
    <message>
        <source>All security codes</source>
        <translation>Tous les codes de sécurité</translation>
    </message>
    <message>
        <source>All trusted IP changes</source>
        <translation>Toutes les modifications d&apos;adresses IP de confiance</translation>
    </message>
    <message>
        <source>All account locks</source>
        <translation>Tous les blocages</translation>
    </message>
    <message>
        <source>Two-step on and off</source>
        <translation>Deux étapes activée et désactivée</translation>
    </message>
    <message>
        <source>All personnel changes</source>
        <translation>Toutes les modifications du personnel</translation>
    </message>
    <message>
        <source>All group changes</source>
        <translation>Toutes les modifications de groupes</translation>
    </message>
    <message>
        <source>All sessions</source>
        <translation>Toutes les sessions</translation>
    </message>
    <message>
        <source>Break-glass recoveries</source>
        <translation>Récupérations d&apos;urgence</translation>
    </message>
    <message>
        <source>Any time</source>
        <translation>Toute période</translation>
    </message>
    <message>
        <source>Today</source>
        <translation>Aujourd&apos;hui</translation>
    </message>
    <message>
        <source>Last 7 days</source>
        <translation>7 derniers jours</translation>
    </message>
    <message>
        <source>Last 30 days</source>
        <translation>30 derniers jours</translation>
    </message>
    <message>
        <source>Between…</source>
        <translation>Entre…</translation>
    </message>
    <message>
        <source>Time</source>
        <extracomment>The core&apos;s column titles (``audit.CSV_COLUMNS``) and event names (``audit.EVENT_NAMES``), marked for translation in the Log&apos;s context; ``log_text`` translates them when shown. The stored rows keep their event codes and English details.</extracomment>
        <translation>Heure</translation>
    </message>
    <message>
        <source>Actor</source>
        <translation>Auteur</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Événement</translation>
    </message>
    <message>
        <source>Subject</source>
        <translation>Objet</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>Adresse</translation>
    </message>
    <message>
        <source>Workstation</source>
        <translation>Poste de travail</translation>
    </message>
    <message>
        <source>Detail</source>
        <translation>Détail</translation>
    </message>
    <message>
        <source>Time (UTC)</source>
        <translation>Heure (UTC)</translation>
    </message>
    <message>
        <source>Login succeeded</source>
        <translation>Connexion réussie</translation>
    </message>
    <message>
        <source>Login refused</source>
        <translation>Connexion refusée</translation>
    </message>
    <message>
        <source>Security code asked</source>
        <translation>Code de sécurité demandé</translation>
    </message>
    <message>
        <source>Code sent</source>
        <translation>Code envoyé</translation>
    </message>
    <message>
        <source>Code not delivered</source>
        <translation>Code non distribué</translation>
    </message>
    <message>
        <source>Wrong code</source>
        <translation>Code erroné</translation>
    </message>
    <message>
        <source>Code voided</source>
        <translation>Code annulé</translation>
    </message>
    <message>
        <source>Account locked</source>
        <translation>Compte bloqué</translation>
    </message>
    <message>
        <source>Account unlocked</source>
        <translation>Compte débloqué</translation>
    </message>
    <message>
        <source>IP trusted</source>
        <translation>IP de confiance</translation>
    </message>
    <message>
        <source>IP removed</source>
        <translation>IP retirée</translation>
    </message>
    <message>
        <source>IP restored</source>
        <translation>IP rétablie</translation>
    </message>
    <message>
        <source>IP expired</source>
        <translation>IP expirée</translation>
    </message>
    <message>
        <source>IP not trusted</source>
        <translation>IP non fiable</translation>
    </message>
    <message>
        <source>Office network added</source>
        <translation>Réseau du bureau ajouté</translation>
    </message>
    <message>
        <source>Office network removed</source>
        <translation>Réseau du bureau retiré</translation>
    </message>
    <message>
        <source>Helpdesk code issued</source>
        <translation>Code helpdesk émis</translation>
    </message>
    <message>
        <source>Helpdesk code cancelled</source>
        <translation>Code helpdesk annulé</translation>
    </message>
    <message>
        <source>Two-step turned on</source>
        <translation>Deux étapes activée</translation>
    </message>
    <message>
        <source>Two-step turned off</source>
        <translation>Deux étapes désactivée</translation>
    </message>
    <message>
        <source>Setting changed</source>
        <translation>Paramètre modifié</translation>
    </message>
    <message>
        <source>Permissions changed</source>
        <translation>Autorisations modifiées</translation>
    </message>
    <message>
        <source>Group created</source>
        <translation>Groupe créé</translation>
    </message>
    <message>
        <source>Group renamed</source>
        <translation>Groupe renommé</translation>
    </message>
    <message>
        <source>Group deleted</source>
        <translation>Groupe supprimé</translation>
    </message>
    <message>
        <source>Person created</source>
        <translation>Personne créée</translation>
    </message>
    <message>
        <source>Person changed</source>
        <translation>Personne modifiée</translation>
    </message>
    <message>
        <source>Person deleted</source>
        <translation>Personne supprimée</translation>
    </message>
    <message>
        <source>Password changed</source>
        <translation>Mot de passe modifié</translation>
    </message>
    <message>
        <source>Test code sent</source>
        <translation>Code de test envoyé</translation>
    </message>
    <message>
        <source>Trust alert sent</source>
        <translation>Alerte de confiance envoyée</translation>
    </message>
    <message>
        <source>Trust alert not sent</source>
        <translation>Alerte de confiance non envoyée</translation>
    </message>
    <message>
        <source>Signed out</source>
        <translation>Déconnecté</translation>
    </message>
    <message>
        <source>Session started</source>
        <translation>Session ouverte</translation>
    </message>
    <message>
        <source>Session ended</source>
        <translation>Session fermée</translation>
    </message>
    <message>
        <source>Session refused</source>
        <translation>Session refusée</translation>
    </message>
    <message>
        <source>Break-glass recovery</source>
        <translation>Récupération d&apos;urgence</translation>
    </message>
    <message>
        <source>Local time of this workstation (UTC in each cell&apos;s tooltip)</source>
        <translation>Heure locale de ce poste de travail (UTC dans l&apos;info-bulle de chaque cellule)</translation>
    </message>
</context>
<context>
    <name>Background</name>
    <message>
        <source>{seconds} s</source>
        <translation>{seconds} s</translation>
    </message>
    <message>
        <source>Database connection lost — reconnecting in {delay}</source>
        <translation>Connexion à la base de données perdue — nouvelle tentative dans {delay}</translation>
    </message>
    <message>
        <source>Database connection restored</source>
        <translation>Connexion à la base de données rétablie</translation>
    </message>
</context>
<context>
    <name>ChangeListener</name>
    <message>
        <source>Live refresh failed: {why} — retrying in {delay}</source>
        <translation>Échec de l&apos;actualisation automatique : {why} — nouvelle tentative dans {delay}</translation>
    </message>
</context>
<context>
    <name>ConflictDialog</name>
    <message>
        <source>Changed on another workstation</source>
        <translation>Modifié sur un autre poste de travail</translation>
    </message>
    <message>
        <source>{name} was changed on another workstation since you opened it.</source>
        <translation>{name} a été modifié sur un autre poste de travail depuis que vous l&apos;avez ouvert.</translation>
    </message>
    <message>
        <source>Nothing was saved. Your changes are still in the form. Compare them with the values saved meanwhile:</source>
        <translation>Rien n&apos;a été enregistré. Vos modifications sont toujours dans le formulaire. Comparez-les avec les valeurs enregistrées entre-temps :</translation>
    </message>
    <message>
        <source>Nothing was saved. The other workstation&apos;s values are the same as yours.</source>
        <translation>Rien n&apos;a été enregistré. Les valeurs de l&apos;autre poste de travail sont identiques aux vôtres.</translation>
    </message>
    <message>
        <source>Field</source>
        <translation>Champ</translation>
    </message>
    <message>
        <source>Yours</source>
        <translation>Votre valeur</translation>
    </message>
    <message>
        <source>Theirs (saved)</source>
        <translation>Enregistrée</translation>
    </message>
    <message>
        <source>Your new password is kept in the form and saved with yours.</source>
        <translation>Votre nouveau mot de passe reste dans le formulaire et sera enregistré avec vos modifications.</translation>
    </message>
    <message>
        <source>Save mine over theirs</source>
        <translation>Enregistrer ma version</translation>
    </message>
    <message>
        <source>Discard mine, load theirs</source>
        <translation>Charger l&apos;autre version</translation>
    </message>
    <message>
        <source>Keep editing</source>
        <translation>Continuer à modifier</translation>
    </message>
    <message>
        <source>Yes</source>
        <translation>Oui</translation>
    </message>
    <message>
        <source>No</source>
        <translation>Non</translation>
    </message>
    <message>
        <source>Not saved: {name} was changed on another workstation. Your changes are still in the form.</source>
        <translation>Non enregistré : {name} a été modifié sur un autre poste de travail. Vos modifications sont toujours dans le formulaire.</translation>
    </message>
</context>
<context>
    <name>ConnectionStatusBox</name>
    <message>
        <source>Connection security</source>
        <translation>Sécurité des connexions</translation>
    </message>
    <message>
        <source>Database connection</source>
        <translation>Connexion à la base de données</translation>
    </message>
    <message>
        <source>Code delivery</source>
        <translation>Envoi des codes</translation>
    </message>
    <message>
        <source>This workstation&apos;s address, as the database sees it</source>
        <translation>L&apos;adresse de ce poste de travail, telle que la base de données la voit</translation>
    </message>
    <message>
        <source>Embedded database on this computer (no network link)</source>
        <translation>Base de données intégrée sur cet ordinateur (pas de liaison réseau)</translation>
    </message>
    <message>
        <source>Encryption: TLS</source>
        <translation>Chiffrement : TLS</translation>
    </message>
    <message>
        <source>Encryption: none (server on this computer only)</source>
        <translation>Chiffrement : aucun (serveur sur cet ordinateur uniquement)</translation>
    </message>
    <message>
        <source>Not encrypted: data and sign-ins cross the network readable. Turn on TLS for the database connection.</source>
        <translation>Non chiffré : les données et les connexions traversent le réseau en clair. Activez TLS pour la connexion à la base de données.</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>inconnue</translation>
    </message>
    <message>
        <source>Sent by the {relay}</source>
        <translation>Envoyé par le {relay}</translation>
    </message>
    <message>
        <source>Encryption: none (local server only)</source>
        <translation>Chiffrement : aucun (serveur local uniquement)</translation>
    </message>
    <message>
        <source>Not encrypted: codes cross the network readable.</source>
        <translation>Non chiffré : les codes traversent le réseau en clair.</translation>
    </message>
</context>
<context>
    <name>DatabaseStatus</name>
    <message>
        <source>settings file</source>
        <extracomment>Where the database address came from (``Resolved.source``), as the tooltip says it; the option and the variable keep their names.</extracomment>
        <translation>fichier de paramètres</translation>
    </message>
    <message>
        <source>embedded default</source>
        <translation>base intégrée par défaut</translation>
    </message>
    <message>
        <source>{where}
Database {url} ({source})</source>
        <translation>{where}
Base de données {url} ({source})</translation>
    </message>
</context>
<context>
    <name>DeliveryFields</name>
    <message>
        <source>Phone region</source>
        <translation>Pays GSM</translation>
    </message>
    <message>
        <source>Thumbprint</source>
        <translation>Empreinte</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>Mot de passe</translation>
    </message>
    <message>
        <source>Private key (PEM)</source>
        <translation>Clé privée (PEM)</translation>
    </message>
    <message>
        <source>JSON key</source>
        <translation>Clé JSON</translation>
    </message>
    <message>
        <source>Account SID</source>
        <translation>Account SID</translation>
    </message>
    <message>
        <source>API key</source>
        <translation>Clé API</translation>
    </message>
    <message>
        <source>The mailbox that sends the codes.</source>
        <translation>La boîte aux lettres qui envoie les codes.</translation>
    </message>
    <message>
        <source>A number (+32…) or a name of up to 11 letters and digits.</source>
        <translation>Un numéro (+32…) ou un nom de 11 lettres et chiffres au plus.</translation>
    </message>
    <message>
        <source>The name of your mail server, such as smtp.example.com.</source>
        <translation>Le nom de votre serveur de messagerie, par exemple smtp.example.com.</translation>
    </message>
    <message>
        <source>The address the codes come from.</source>
        <translation>L&apos;adresse d&apos;où partent les codes.</translation>
    </message>
    <message>
        <source>Twilio Console → Account Info → Account SID.</source>
        <translation>Twilio Console → Account Info → Account SID.</translation>
    </message>
    <message>
        <source>Vonage API Dashboard → API key.</source>
        <translation>Vonage API Dashboard → API key.</translation>
    </message>
    <message>
        <source>Certificates &amp; secrets → the secret&apos;s Value (not its ID).</source>
        <translation>Certificates &amp; secrets → la Value du secret (pas son ID).</translation>
    </message>
    <message>
        <source>The certificate&apos;s PEM private key: paste it, or choose its .pem file.</source>
        <translation>La clé privée PEM du certificat : collez-la ou choisissez son fichier .pem.</translation>
    </message>
    <message>
        <source>The service account&apos;s JSON key file, as downloaded: paste it or choose the file.</source>
        <translation>Le fichier de clé JSON du compte de service, tel que téléchargé : collez-le ou choisissez le fichier.</translation>
    </message>
    <message>
        <source>Empty: {host}.</source>
        <translation>Vide : {host}.</translation>
    </message>
    <message>
        <source>Numbers stored without a country code are read as this country&apos;s: BE, NL, …</source>
        <translation>Les numéros sans indicatif sont lus comme ceux de ce pays : BE, NL, …</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>Parcourir…</translation>
    </message>
    <message>
        <source>From file…</source>
        <translation>Depuis un fichier…</translation>
    </message>
    <message>
        <source>filled in from the JSON key</source>
        <translation>rempli depuis la clé JSON</translation>
    </message>
    <message>
        <source>STARTTLS (port 587)</source>
        <translation>STARTTLS (port 587)</translation>
    </message>
    <message>
        <source>TLS from the start (port 465)</source>
        <translation>TLS dès le début (port 465)</translation>
    </message>
    <message>
        <source>None (local relay only)</source>
        <translation>Aucune (relais local seulement)</translation>
    </message>
    <message>
        <source>Client secret</source>
        <translation>Secret client</translation>
    </message>
    <message>
        <source>Certificate</source>
        <translation>Certificat</translation>
    </message>
    <message>
        <source>Gateway token</source>
        <translation>Jeton de passerelle</translation>
    </message>
    <message>
        <source>Auth Token</source>
        <translation>Auth Token</translation>
    </message>
    <message>
        <source>API secret</source>
        <translation>Secret API</translation>
    </message>
    <message>
        <source>Product token</source>
        <translation>Jeton produit</translation>
    </message>
    <message>
        <source>Secret</source>
        <translation>Secret</translation>
    </message>
    <message>
        <source>password</source>
        <translation>mot de passe</translation>
    </message>
    <message>
        <source>gateway token</source>
        <translation>jeton de passerelle</translation>
    </message>
    <message>
        <source>service account JSON key</source>
        <translation>clé JSON du compte de service</translation>
    </message>
    <message>
        <source>product token</source>
        <translation>jeton produit</translation>
    </message>
    <message>
        <source>client secret</source>
        <translation>secret client</translation>
    </message>
    <message>
        <source>certificate private key (PEM)</source>
        <translation>clé privée du certificat (PEM)</translation>
    </message>
    <message>
        <source>secret</source>
        <translation>secret</translation>
    </message>
</context>
<context>
    <name>DeliveryTest</name>
    <message>
        <source>Send test code</source>
        <translation>Envoyer un code de test</translation>
    </message>
    <message>
        <source>Send a test code to</source>
        <translation>Envoyer un code de test à</translation>
    </message>
    <message>
        <source>Uses the saved settings; the code in it is valid nowhere.</source>
        <translation>Utilise les paramètres enregistrés ; le code qu&apos;il contient n&apos;est valable nulle part.</translation>
    </message>
</context>
<context>
    <name>ExpirySweep</name>
    <message>
        <source>Expiry sweep: removed 1 expired trusted IP address</source>
        <extracomment>Whether the sweep is stopping: a job asks it between its units of work and ends early. What the sweep runs each time; returns how many trusted IPs it removed. Reports from the sweep&apos;s thread: how many it removed; a status text and how long it stays.</extracomment>
        <translation>Nettoyage : 1 adresse IP de confiance expirée retirée</translation>
    </message>
    <message>
        <source>Expiry sweep: removed {count} expired trusted IP addresses</source>
        <translation>Nettoyage : {count} adresses IP de confiance expirées retirées</translation>
    </message>
    <message>
        <source>Expiry sweep postponed: the database is busy — retrying in {delay}</source>
        <translation>Nettoyage reporté : la base de données est occupée — nouvelle tentative dans {delay}</translation>
    </message>
    <message>
        <source>Expiry sweep failed: {why} — retrying in {delay}</source>
        <translation>Échec du nettoyage : {why} — nouvelle tentative dans {delay}</translation>
    </message>
</context>
<context>
    <name>FirstRunDialog</name>
    <message>
        <source>First administrator</source>
        <translation>Premier administrateur</translation>
    </message>
    <message>
        <source>The administrator could not be created</source>
        <translation>L&apos;administrateur n&apos;a pas pu être créé</translation>
    </message>
    <message>
        <source>Creating the administrator…</source>
        <translation>Création de l&apos;administrateur…</translation>
    </message>
    <message>
        <source>Welcome to pmdesk</source>
        <translation>Bienvenue dans pmdesk</translation>
    </message>
    <message>
        <source>This database has no users yet. Create the first administrator: this account joins the Administrator group and can then add everybody else under Maintenance → Organisation → Personnel.</source>
        <translation>Cette base de données n&apos;a encore aucun utilisateur. Créez le premier administrateur : ce compte rejoint le groupe Administrator et pourra ensuite ajouter tous les autres sous Maintenance → Organisation → Personnel.</translation>
    </message>
    <message>
        <source>e.g. jsmets</source>
        <translation>p. ex. jsmets</translation>
    </message>
    <message>
        <source>name@example.com</source>
        <translation>nom@exemple.be</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>Identifiant</translation>
    </message>
    <message>
        <source>Forename</source>
        <translation>Prénom</translation>
    </message>
    <message>
        <source>Lastname</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <source>Security codes are sent here once two-step authentication is on.</source>
        <translation>Les codes de sécurité sont envoyés à cette adresse dès que la connexion en deux étapes est activée.</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>Mot de passe</translation>
    </message>
    <message>
        <source>Confirm</source>
        <translation>Confirmer</translation>
    </message>
    <message>
        <source>At least 8 characters.</source>
        <translation>Au moins 8 caractères.</translation>
    </message>
    <message>
        <source>Confirm password</source>
        <translation>Confirmer le mot de passe</translation>
    </message>
    <message>
        <source>Create administrator</source>
        <translation>Créer l&apos;administrateur</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
</context>
<context>
    <name>GroupNameDialog</name>
    <message>
        <source>e.g. Reception desk</source>
        <translation>p. ex. Accueil</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Enregistrement…</translation>
    </message>
</context>
<context>
    <name>GroupSelector</name>
    <message>
        <source>Usergroup Selector</source>
        <translation>Choix du groupe d&apos;utilisateurs</translation>
    </message>
    <message>
        <source>Reload the groups and their rights (F5)</source>
        <translation>Actualiser les groupes et leurs droits (F5)</translation>
    </message>
    <message>
        <source>Reload the groups</source>
        <translation>Actualiser les groupes</translation>
    </message>
    <message>
        <source>New group</source>
        <translation>Nouveau groupe</translation>
    </message>
    <message>
        <source>Rename</source>
        <translation>Renommer</translation>
    </message>
    <message>
        <source>Delete group</source>
        <translation>Supprimer</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Move the people in this group to another group first.</source>
        <translation>Déplacez d&apos;abord les personnes de ce groupe vers un autre groupe.</translation>
    </message>
    <message>
        <source>Your user group needs System {right} for this.</source>
        <translation>Votre groupe d&apos;utilisateurs a besoin pour cela de Système {right}.</translation>
    </message>
    <message>
        <source>Nobody is in this group.</source>
        <translation>Personne ne fait partie de ce groupe.</translation>
    </message>
    <message>
        <source>1 person is in this group.</source>
        <translation>1 personne fait partie de ce groupe.</translation>
    </message>
    <message>
        <source>{n} people are in this group.</source>
        <translation>{n} personnes font partie de ce groupe.</translation>
    </message>
</context>
<context>
    <name>Header</name>
    <message>
        <source>Language</source>
        <translation>Langue</translation>
    </message>
    <message>
        <source>Sign out</source>
        <translation>Se déconnecter</translation>
    </message>
</context>
<context>
    <name>HelpdeskCodeDialog</name>
    <message>
        <source>Issue helpdesk code</source>
        <translation>Créer un code helpdesk</translation>
    </message>
    <message>
        <source>A one-time sign-in code for {name}, to read out over the phone. It works once, in the code step after their password, also while e-mail or SMS is down. A new code replaces the one issued before.</source>
        <translation>Un code de connexion à usage unique pour {name}, à lire au téléphone. Il fonctionne une seule fois, à l&apos;étape du code après le mot de passe, même si l&apos;e-mail ou les SMS sont en panne. Un nouveau code remplace le précédent.</translation>
    </message>
    <message>
        <source>e.g. Ticket 4711: phone lost</source>
        <translation>p. ex. Ticket 4711 : GSM perdu</translation>
    </message>
    <message>
        <source> min</source>
        <translation> min</translation>
    </message>
    <message>
        <source>&amp;Reason or ticket</source>
        <translation>&amp;Motif ou ticket</translation>
    </message>
    <message>
        <source>&amp;Valid for</source>
        <translation>&amp;Valable pendant</translation>
    </message>
    <message>
        <source>Issue code</source>
        <translation>Créer le code</translation>
    </message>
    <message>
        <source>Helpdesk code</source>
        <translation>Code helpdesk</translation>
    </message>
    <message>
        <source>&amp;Copy</source>
        <translation>&amp;Copier</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>Fermer</translation>
    </message>
    <message>
        <source>Read this code out to {name} ({login}):</source>
        <translation>Lisez ce code à {name} ({login}) :</translation>
    </message>
    <message>
        <source> It replaces the code issued before.</source>
        <translation> Il remplace le code précédent.</translation>
    </message>
    <message>
        <source>Valid once, until {time}.{replaced} It is not shown again once you close this window.</source>
        <translation>Valable une fois, jusqu&apos;au {time}.{replaced} Il ne sera plus affiché une fois cette fenêtre fermée.</translation>
    </message>
</context>
<context>
    <name>HelpdeskRow</name>
    <message>
        <source>Issue helpdesk code…</source>
        <translation>Créer un code helpdesk…</translation>
    </message>
    <message>
        <source>A one-time sign-in code to read out over the phone</source>
        <translation>Un code de connexion à usage unique, à lire au téléphone</translation>
    </message>
    <message>
        <source>Cancel code</source>
        <translation>Révoquer le code</translation>
    </message>
    <message>
        <source>Cancel helpdesk code</source>
        <translation>Révoquer le code helpdesk</translation>
    </message>
    <message>
        <source>No helpdesk code.</source>
        <translation>Aucun code helpdesk.</translation>
    </message>
    <message>
        <source>A helpdesk code is live until {time} (issued by {who}: {reason}).</source>
        <translation>Un code helpdesk est valable jusqu&apos;au {time} (créé par {who} : {reason}).</translation>
    </message>
</context>
<context>
    <name>Launcher</name>
    <message>
        <source>No system keyring</source>
        <extracomment>Login works: the database answered at the newest schema with users (opened or not yet). The database is open and migrated, the login service loaded. Opening the database failed (the problem box is shown). The start-up and sign-in steps that run on workers (each names where its error goes).</extracomment>
        <translation>Pas de trousseau système</translation>
    </message>
    <message>
        <source>pmdesk keeps mail and database passwords only in the system keyring, and none is available on this computer. You can sign in, but passwords cannot be saved until a keyring is installed or unlocked.</source>
        <translation>pmdesk conserve les mots de passe de messagerie et de base de données uniquement dans le trousseau du système, et aucun n&apos;est disponible sur cet ordinateur. Vous pouvez vous connecter, mais les mots de passe ne pourront être enregistrés qu&apos;une fois un trousseau installé ou déverrouillé.</translation>
    </message>
    <message>
        <source>Administrator {login} created. Sign in with your new password.</source>
        <translation>Administrateur {login} créé. Connectez-vous avec votre nouveau mot de passe.</translation>
    </message>
    <message>
        <source>Another workstation created the first user meanwhile: sign in with it.</source>
        <translation>Un autre poste de travail a créé entre-temps le premier utilisateur : connectez-vous avec celui-ci.</translation>
    </message>
    <message>
        <source>There are no users yet: click “Set up pmdesk…” to create the first administrator.</source>
        <translation>Il n&apos;y a encore aucun utilisateur : cliquez sur « Configurer pmdesk… » pour créer le premier administrateur.</translation>
    </message>
    <message>
        <source>Opening pmdesk…</source>
        <translation>Ouverture de pmdesk…</translation>
    </message>
    <message>
        <source>pmdesk could not open its main window</source>
        <translation>pmdesk n&apos;a pas pu ouvrir sa fenêtre principale</translation>
    </message>
    <message>
        <source>You were signed out: {why} Sign in again to go on.</source>
        <translation>Vous avez été déconnecté : {why} Reconnectez-vous pour continuer.</translation>
    </message>
</context>
<context>
    <name>LockedNowBox</name>
    <message>
        <source>Locked now</source>
        <translation>Bloqués maintenant</translation>
    </message>
    <message>
        <source>Person</source>
        <translation>Personne</translation>
    </message>
    <message>
        <source>Where</source>
        <translation>Où</translation>
    </message>
    <message>
        <source>Until</source>
        <translation>Jusqu&apos;à</translation>
    </message>
    <message>
        <source>Left</source>
        <translation>Reste</translation>
    </message>
    <message>
        <source>Read who is locked again</source>
        <translation>Relire qui est bloqué</translation>
    </message>
    <message>
        <source>Reload</source>
        <translation>Actualiser</translation>
    </message>
    <message>
        <source>Unlock</source>
        <translation>Débloquer</translation>
    </message>
    <message>
        <source>Unlock all…</source>
        <translation>Tout débloquer…</translation>
    </message>
    <message>
        <source>The locks could not be read</source>
        <translation>Les blocages n&apos;ont pas pu être lus</translation>
    </message>
    <message>
        <source>Unlocking…</source>
        <translation>Déblocage…</translation>
    </message>
    <message>
        <source>Not unlocked</source>
        <translation>Non débloqué</translation>
    </message>
    <message>
        <source>{name} is unlocked everywhere.</source>
        <translation>{name} est débloqué partout.</translation>
    </message>
    <message>
        <source>Unlock all</source>
        <translation>Tout débloquer</translation>
    </message>
    <message>
        <source>Unlock everyone locked now ({count})?</source>
        <translation>Débloquer toutes les personnes bloquées maintenant ({count}) ?</translation>
    </message>
    <message>
        <source>They can sign in again at once, from every address. Each unlock is logged.</source>
        <translation>Elles peuvent se reconnecter immédiatement, depuis toute adresse. Chaque déblocage est inscrit au journal.</translation>
    </message>
    <message>
        <source>Unlocked: {count}.</source>
        <translation>Débloqués : {count}.</translation>
    </message>
    <message>
        <source>Left locked, as their user group has rights your own lacks: {names}.</source>
        <translation>Restés bloqués, car leur groupe d&apos;utilisateurs a des droits que le vôtre n&apos;a pas : {names}.</translation>
    </message>
    <message>
        <source>everywhere</source>
        <translation>partout</translation>
    </message>
    <message>
        <source>unknown address</source>
        <translation>adresse inconnue</translation>
    </message>
    <message>
        <source>Lock {n} in a row; {f} failures since; until {until}</source>
        <translation>Blocage {n} d&apos;affilée ; {f} échecs depuis ; jusqu&apos;au {until}</translation>
    </message>
    <message>
        <source>Nobody is locked now.</source>
        <translation>Personne n&apos;est bloqué pour le moment.</translation>
    </message>
    <message>
        <source>Your user group needs Maintenance Edit to unlock.</source>
        <translation>Votre groupe d&apos;utilisateurs doit avoir Maintenance Modifier pour débloquer.</translation>
    </message>
</context>
<context>
    <name>LockoutBox</name>
    <message>
        <source>Lockout</source>
        <translation>Blocage</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>Enregistrer</translation>
    </message>
    <message>
        <source>Saving…</source>
        <extracomment>The settings&apos; names, in the order of the spin boxes. Saved: the settings as they are now (their new version), for the page.</extracomment>
        <translation>Enregistrement…</translation>
    </message>
    <message>
        <source>Not saved</source>
        <translation>Non enregistré</translation>
    </message>
    <message>
        <source> failures</source>
        <translation> échecs</translation>
    </message>
    <message>
        <source> min</source>
        <translation> min</translation>
    </message>
    <message>
        <source>Failures before a lock</source>
        <translation>Échecs avant blocage</translation>
    </message>
    <message>
        <source>First lock</source>
        <translation>Premier blocage</translation>
    </message>
    <message>
        <source>Longest lock</source>
        <translation>Blocage maximal</translation>
    </message>
    <message>
        <source>Failures are counted per person and address: a guesser at one address locks the person out from there only. Each later lock doubles, up to the longest. {cap} failures from anywhere lock the person everywhere (NIST&apos;s cap).</source>
        <translation>Les échecs de connexion sont comptés par personne et par adresse : quelqu&apos;un qui devine depuis une adresse ne bloque la personne que depuis celle-ci. Chaque blocage suivant double, jusqu&apos;au maximum. {cap} échecs depuis n&apos;importe où bloquent la personne partout (la limite du NIST).</translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation>Enregistré.</translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation>Votre groupe d&apos;utilisateurs doit avoir Système → Sécurité Modifier pour changer ceci.</translation>
    </message>
</context>
<context>
    <name>LogPage</name>
    <message>
        <source>User (who acted, or whom it concerned)</source>
        <translation>Utilisateur (auteur ou personne concernée)</translation>
    </message>
    <message>
        <source>User</source>
        <translation>Utilisateur</translation>
    </message>
    <message>
        <source>IP or its start</source>
        <translation>IP ou son début</translation>
    </message>
    <message>
        <source>IP address</source>
        <translation>Adresse IP</translation>
    </message>
    <message>
        <source>An IP address (192.0.2.10), or how it starts (192.0.2.) for a whole block</source>
        <translation>Une adresse IP (192.0.2.10), ou son début (192.0.2.) pour tout un bloc</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Événement</translation>
    </message>
    <message>
        <source>All events</source>
        <translation>Tous les événements</translation>
    </message>
    <message>
        <source>Period</source>
        <translation>Période</translation>
    </message>
    <message>
        <source>From</source>
        <translation>Du</translation>
    </message>
    <message>
        <source>To</source>
        <translation>Au</translation>
    </message>
    <message>
        <source>and</source>
        <translation>et</translation>
    </message>
    <message>
        <source>Reload (F5)</source>
        <translation>Actualiser (F5)</translation>
    </message>
    <message>
        <source>Reload the log</source>
        <translation>Actualiser le journal</translation>
    </message>
    <message>
        <source>Export to CSV…</source>
        <translation>Exporter en CSV…</translation>
    </message>
    <message>
        <source>Log events</source>
        <translation>Événements du journal</translation>
    </message>
    <message>
        <source>Trace this address…</source>
        <translation>Tracer cette adresse…</translation>
    </message>
    <message>
        <source>Everyone who has the chosen event&apos;s address trusted, and every event there</source>
        <translation>Toutes les personnes qui font confiance à l&apos;adresse de l&apos;événement choisi, et chaque événement à cette adresse</translation>
    </message>
    <message>
        <source>The export did not work</source>
        <translation>L&apos;exportation a échoué</translation>
    </message>
    <message>
        <source>The log could not be loaded</source>
        <translation>Le journal n&apos;a pas pu être chargé</translation>
    </message>
    <message>
        <source>No events match these filters.</source>
        <translation>Aucun événement ne correspond à ces filtres.</translation>
    </message>
    <message>
        <source>1 event</source>
        <translation>1 événement</translation>
    </message>
    <message>
        <source>{n} events</source>
        <translation>{n} événements</translation>
    </message>
    <message>
        <source>Newest {n} events shown; scroll down for older ones.</source>
        <translation>Les {n} événements les plus récents sont affichés ; faites défiler vers le bas pour les plus anciens.</translation>
    </message>
    <message>
        <source>Exporting…</source>
        <translation>Exportation…</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Chargement…</translation>
    </message>
    <message>
        <source>Export the log to CSV</source>
        <translation>Exporter le journal en CSV</translation>
    </message>
    <message>
        <source>CSV files (*.csv)</source>
        <translation>Fichiers CSV (*.csv)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>Tous les fichiers (*)</translation>
    </message>
    <message>
        <source>1 event exported to {path}.</source>
        <translation>1 événement exporté vers {path}.</translation>
    </message>
    <message>
        <source>{n} events exported to {path}.</source>
        <translation>{n} événements exportés vers {path}.</translation>
    </message>
    <message>
        <source>The file could not be written: {reason}</source>
        <translation>Le fichier n&apos;a pas pu être écrit : {reason}</translation>
    </message>
</context>
<context>
    <name>LoginCodePage</name>
    <message>
        <source>6-digit code</source>
        <translation>6 chiffres</translation>
    </message>
    <message>
        <source>Security code</source>
        <translation>Code de sécurité</translation>
    </message>
    <message>
        <source>Trust this IP</source>
        <translation>Faire confiance à cette adresse IP</translation>
    </message>
    <message>
        <source>Only tick this on your office network, never at home or on public Wi-Fi.</source>
        <translation>Ne cochez ceci que sur le réseau du bureau, jamais à la maison ni sur un Wi-Fi public.</translation>
    </message>
    <message>
        <source>Send a new code</source>
        <translation>Envoyer un nouveau code</translation>
    </message>
    <message>
        <source>The security code could not be sent.</source>
        <translation>Le code de sécurité n&apos;a pas pu être envoyé.</translation>
    </message>
    <message>
        <source>A security code was sent to you.</source>
        <translation>Un code de sécurité vous a été envoyé.</translation>
    </message>
    <message>
        <source>A new security code was sent to {destination}.</source>
        <translation>Un nouveau code de sécurité a été envoyé à {destination}.</translation>
    </message>
    <message>
        <source>A security code was sent to {destination}.</source>
        <translation>Un code de sécurité a été envoyé à {destination}.</translation>
    </message>
    <message>
        <source>Enter the code the helpdesk gave you.</source>
        <translation>Saisissez le code que le helpdesk vous a donné.</translation>
    </message>
    <message>
        <source>Or enter the code the helpdesk gave you.</source>
        <translation>Ou saisissez le code que le helpdesk vous a donné.</translation>
    </message>
    <message>
        <source>6 or 12 digits</source>
        <translation>6 ou 12 chiffres</translation>
    </message>
    <message>
        <source>Not available: {reason}</source>
        <translation>Indisponible : {reason}</translation>
    </message>
    <message>
        <source>This code has expired. Send a new code.</source>
        <translation>Ce code a expiré. Demandez un nouveau code.</translation>
    </message>
    <message>
        <source>Valid for {time}</source>
        <translation>Valable encore {time}</translation>
    </message>
    <message>
        <source>Send a new code ({seconds} s)</source>
        <translation>Nouveau code ({seconds} s)</translation>
    </message>
    <message>
        <source>Login refused.</source>
        <translation>Connexion refusée.</translation>
    </message>
    <message>
        <source>1 attempt left.</source>
        <translation>Encore 1 tentative.</translation>
    </message>
    <message>
        <source>{n} attempts left.</source>
        <translation>Encore {n} tentatives.</translation>
    </message>
    <message>
        <source>{minutes}:{seconds}</source>
        <translation>{minutes}:{seconds}</translation>
    </message>
</context>
<context>
    <name>LoginDialog</name>
    <message>
        <source>Login</source>
        <extracomment>&quot;Set up pmdesk…&quot; was clicked (offered while the database has no users yet).</extracomment>
        <translation>Connexion</translation>
    </message>
    <message>
        <source>Version {version}</source>
        <translation>Version {version}</translation>
    </message>
    <message>
        <source>Back</source>
        <translation>Retour</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <source>Set up pmdesk…</source>
        <translation>Configurer pmdesk…</translation>
    </message>
    <message>
        <source>Create the first administrator of this database</source>
        <translation>Créer le premier administrateur de cette base de données</translation>
    </message>
    <message>
        <source>Opening database…</source>
        <translation>Ouverture de la base…</translation>
    </message>
    <message>
        <source>Enter your login.</source>
        <translation>Saisissez votre identifiant.</translation>
    </message>
    <message>
        <source>Enter your password.</source>
        <translation>Saisissez votre mot de passe.</translation>
    </message>
    <message>
        <source>Signing in…</source>
        <translation>Connexion…</translation>
    </message>
    <message>
        <source>Enter the security code you received.</source>
        <translation>Saisissez le code de sécurité que vous avez reçu.</translation>
    </message>
    <message>
        <source>Checking the code…</source>
        <translation>Vérification…</translation>
    </message>
    <message>
        <source>Sending a new code…</source>
        <translation>Envoi du code…</translation>
    </message>
    <message>
        <source>Something went wrong while signing in ({name}). Try again.</source>
        <translation>Un problème est survenu lors de la connexion ({name}). Réessayez.</translation>
    </message>
    <message>
        <source>A new code is on its way. Use the newest code.</source>
        <translation>Un nouveau code est en route. Utilisez le code le plus récent.</translation>
    </message>
</context>
<context>
    <name>MailSettingsBox</name>
    <message>
        <source>The test code could not be sent</source>
        <translation>Le code de test n&apos;a pas pu être envoyé</translation>
    </message>
    <message>
        <source>Code delivery</source>
        <translation>Envoi des codes</translation>
    </message>
    <message>
        <source>Send codes by</source>
        <translation>Envoyer les codes par</translation>
    </message>
    <message>
        <source>Save delivery settings</source>
        <translation>Enregistrer l&apos;envoi</translation>
    </message>
    <message>
        <source>mobile number</source>
        <translation>numéro de GSM</translation>
    </message>
    <message>
        <source>e-mail address</source>
        <translation>adresse e-mail</translation>
    </message>
    <message>
        <source>Save the settings first: the test uses the saved ones.</source>
        <translation>Enregistrez d&apos;abord les paramètres : le test utilise ceux qui sont enregistrés.</translation>
    </message>
    <message>
        <source>Each code is written as an .eml file to {folder}; nothing leaves this computer. For trying pmdesk out, not for real use.</source>
        <translation>Chaque code est écrit sous forme de fichier .eml dans {folder} ; rien ne quitte cet ordinateur. Pour essayer pmdesk, pas pour un usage réel.</translation>
    </message>
    <message>
        <source>the default outbox</source>
        <translation>le dossier d&apos;envoi par défaut</translation>
    </message>
    <message>
        <source>Not saved: correct the fields marked in red.</source>
        <translation>Non enregistré : corrigez les champs marqués en rouge.</translation>
    </message>
    <message>
        <source>The file could not be read: {problem}</source>
        <translation>Le fichier n&apos;a pas pu être lu : {problem}</translation>
    </message>
    <message>
        <source>Outbox folder</source>
        <translation>Dossier d&apos;envoi</translation>
    </message>
    <message>
        <source>E-mail: SMTP server</source>
        <translation>E-mail : serveur SMTP</translation>
    </message>
    <message>
        <source>E-mail: Microsoft 365</source>
        <translation>E-mail : Microsoft 365</translation>
    </message>
    <message>
        <source>E-mail: Google Workspace</source>
        <translation>E-mail : Google Workspace</translation>
    </message>
    <message>
        <source>E-mail: Microsoft Graph</source>
        <translation>E-mail : Microsoft Graph</translation>
    </message>
    <message>
        <source>SMS: pmdesk gateway</source>
        <translation>SMS : passerelle pmdesk</translation>
    </message>
    <message>
        <source>SMS: Twilio</source>
        <translation>SMS : Twilio</translation>
    </message>
    <message>
        <source>SMS: Vonage</source>
        <translation>SMS : Vonage</translation>
    </message>
    <message>
        <source>SMS: CM.com</source>
        <translation>SMS : CM.com</translation>
    </message>
    <message>
        <source>Paste the certificate&apos;s PEM private key, from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----.</source>
        <translation>Collez la clé privée PEM du certificat, de -----BEGIN PRIVATE KEY----- à -----END PRIVATE KEY-----.</translation>
    </message>
    <message>
        <source>stored in the keyring; type to replace</source>
        <translation>conservé dans le trousseau ; tapez pour le remplacer</translation>
    </message>
    <message>
        <source>not stored on this computer yet</source>
        <translation>pas encore conservé sur cet ordinateur</translation>
    </message>
    <message>
        <source>The keyring could not be read: {problem}</source>
        <translation>Le trousseau n&apos;a pas pu être lu : {problem}</translation>
    </message>
    <message>
        <source>No user name: the server is used without a login.</source>
        <translation>Pas d&apos;identifiant : le serveur est utilisé sans connexion.</translation>
    </message>
    <message>
        <source>The {what} is kept in this computer&apos;s keyring, never in the database: every workstation that sends codes needs it once.</source>
        <translation>Le secret ({what}) est conservé dans le trousseau de cet ordinateur, jamais dans la base de données : chaque poste de travail qui envoie des codes en a besoin une fois.</translation>
    </message>
    <message>
        <source>it is too large to be a key</source>
        <translation>il est trop volumineux pour être une clé</translation>
    </message>
    <message>
        <source>it is not a text file (a JSON key or a PEM key)</source>
        <translation>ce n&apos;est pas un fichier texte (une clé JSON ou PEM)</translation>
    </message>
    <message>
        <source>JSON key</source>
        <translation>Clé JSON</translation>
    </message>
    <message>
        <source>Private key</source>
        <translation>Clé privée</translation>
    </message>
    <message>
        <source>JSON key (*.json)</source>
        <translation>Clé JSON (*.json)</translation>
    </message>
    <message>
        <source>PEM key (*.pem *.key)</source>
        <translation>Clé PEM (*.pem *.key)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>Tous les fichiers (*)</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Maintenance</source>
        <translation>Maintenance</translation>
    </message>
    <message>
        <source>System</source>
        <translation>Système</translation>
    </message>
    <message>
        <source>Your user group may not see any screen. Ask an administrator to grant it rights in System → Permissions.</source>
        <extracomment>Each tab with its English title (shown translated; again on a language change).</extracomment>
        <translation>Votre groupe d&apos;utilisateurs ne peut voir aucun écran. Demandez à un administrateur de lui accorder des droits dans Système → Autorisations.</translation>
    </message>
    <message>
        <source>pmdesk now uses {language}, for you and on this workstation.</source>
        <extracomment>How long a status message stays on screen.</extracomment>
        <translation>pmdesk utilise désormais {language}, pour vous et sur ce poste de travail.</translation>
    </message>
    <message>
        <source>{language} is used on this workstation, but not saved for you: {why}</source>
        <translation>{language} est utilisé sur ce poste de travail, mais n&apos;a pas été enregistré pour vous : {why}</translation>
    </message>
    <message>
        <source>You have changes that are not saved. Discard them and sign out?</source>
        <translation>Vous avez des modifications non enregistrées. Les abandonner et vous déconnecter ?</translation>
    </message>
    <message>
        <source>You have changes that are not saved. Discard them and close pmdesk?</source>
        <translation>Vous avez des modifications non enregistrées. Les abandonner et fermer pmdesk ?</translation>
    </message>
    <message>
        <source>Personnel</source>
        <translation>Personnel</translation>
    </message>
    <message>
        <source>Organisation</source>
        <translation>Organisation</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <source>Permissions</source>
        <translation>Autorisations</translation>
    </message>
    <message>
        <source>Log</source>
        <translation>Journal</translation>
    </message>
    <message>
        <source>Security</source>
        <translation>Sécurité</translation>
    </message>
</context>
<context>
    <name>OfficeNetworksBox</name>
    <message>
        <source>Where addresses may be trusted</source>
        <extracomment>The policy was saved: the settings as they are now (their new version), for the page.</extracomment>
        <translation>Où les adresses peuvent être de confiance</translation>
    </message>
    <message>
        <source>Remove…</source>
        <translation>Retirer…</translation>
    </message>
    <message>
        <source>Office networks</source>
        <translation>Réseaux du bureau</translation>
    </message>
    <message>
        <source>With the trust policy “Only inside office networks”, “Trust this IP” is offered only to sign-ins from these ranges, as the database sees the address.</source>
        <translation>Avec la règle « Uniquement dans les réseaux du bureau », « Faire confiance à cette adresse IP » n&apos;est proposé qu&apos;aux connexions depuis ces plages, telles que la base de données voit l&apos;adresse.</translation>
    </message>
    <message>
        <source>Save policy</source>
        <translation>Enregistrer la règle</translation>
    </message>
    <message>
        <source>Trust addresses</source>
        <translation>Confiance aux adresses</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Ranges</source>
        <translation>Plages</translation>
    </message>
    <message>
        <source>e.g. Head office</source>
        <translation>p. ex. Siège</translation>
    </message>
    <message>
        <source>e.g. 10.1.0.0/16, 10.8.0.0/24</source>
        <translation>p. ex. 10.1.0.0/16, 10.8.0.0/24</translation>
    </message>
    <message>
        <source>IP addresses or networks (CIDR), separated by commas.</source>
        <translation>Adresses IP ou réseaux (CIDR), séparés par des virgules.</translation>
    </message>
    <message>
        <source>Add network</source>
        <translation>Ajouter un réseau</translation>
    </message>
    <message>
        <source>Anywhere</source>
        <extracomment>The trust policy&apos;s choices, as the combo box lists them.</extracomment>
        <translation>Partout</translation>
    </message>
    <message>
        <source>Only inside office networks</source>
        <translation>Uniquement dans les réseaux du bureau</translation>
    </message>
    <message>
        <source>Never</source>
        <translation>Jamais</translation>
    </message>
    <message>
        <source>The office networks could not be read</source>
        <translation>Les réseaux du bureau n&apos;ont pas pu être lus</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>Vérification…</translation>
    </message>
    <message>
        <source>What the new policy would change could not be read</source>
        <translation>Ce que la nouvelle règle changerait n&apos;a pas pu être lu</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Enregistrement…</translation>
    </message>
    <message>
        <source>The trust policy could not be saved</source>
        <translation>La règle de confiance n&apos;a pas pu être enregistrée</translation>
    </message>
    <message>
        <source>Adding…</source>
        <translation>Ajout…</translation>
    </message>
    <message>
        <source>The office network could not be added</source>
        <translation>Le réseau du bureau n&apos;a pas pu être ajouté</translation>
    </message>
    <message>
        <source>What the removal would change could not be read</source>
        <translation>Ce que le retrait changerait n&apos;a pas pu être lu</translation>
    </message>
    <message>
        <source>Removing…</source>
        <translation>Retrait…</translation>
    </message>
    <message>
        <source>The office network could not be removed</source>
        <translation>Le réseau du bureau n&apos;a pas pu être retiré</translation>
    </message>
    <message>
        <source>Change the trust policy</source>
        <translation>Modifier la règle de confiance</translation>
    </message>
    <message>
        <source>Trust addresses: {policy}?</source>
        <translation>Confiance aux adresses : {policy} ?</translation>
    </message>
    <message>
        <source>Change</source>
        <translation>Modifier</translation>
    </message>
    <message>
        <source>Trust policy saved: {policy}.</source>
        <translation>Règle de confiance enregistrée : {policy}.</translation>
    </message>
    <message>
        <source>Office network “{name}” added: {ranges}.</source>
        <translation>Réseau du bureau « {name} » ajouté : {ranges}.</translation>
    </message>
    <message>
        <source>Remove office network</source>
        <translation>Retirer le réseau du bureau</translation>
    </message>
    <message>
        <source>Remove the office network “{name}” ({ranges})?</source>
        <translation>Retirer le réseau du bureau « {name} » ({ranges}) ?</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Retirer</translation>
    </message>
    <message>
        <source>Office network “{name}” removed.</source>
        <translation>Réseau du bureau « {name} » retiré.</translation>
    </message>
    <message>
        <source>Your user group may not change System → Security.</source>
        <translation>Votre groupe d&apos;utilisateurs ne peut pas modifier Système → Sécurité.</translation>
    </message>
</context>
<context>
    <name>Operation</name>
    <message>
        <source>Changed on another workstation</source>
        <extracomment>Where the conflict&apos;s sentence stays after the dialog (None: the operation&apos;s message).</extracomment>
        <translation>Modifié sur un autre poste de travail</translation>
    </message>
    <message>
        <source>Reload</source>
        <translation>Recharger</translation>
    </message>
    <message>
        <source>Keep my changes</source>
        <translation>Garder mes modifications</translation>
    </message>
    <message>
        <source>That did not work</source>
        <translation>Cela n&apos;a pas fonctionné</translation>
    </message>
</context>
<context>
    <name>PermissionGridView</name>
    <message>
        <source>{module}: {action}</source>
        <translation>{module} : {action}</translation>
    </message>
    <message>
        <source>{action} on {module}</source>
        <translation>{action} pour {module}</translation>
    </message>
    <message>
        <source>Changed, not saved yet</source>
        <translation>Modifié, pas encore enregistré</translation>
    </message>
</context>
<context>
    <name>PermissionsPage</name>
    <message>
        <source>Save Permissions</source>
        <translation>Enregistrer</translation>
    </message>
    <message>
        <source>Undo changes</source>
        <translation>Annuler l&apos;action</translation>
    </message>
    <message>
        <source>Read shows a screen, Edit allows changing it, Delete allows removing records in it; Edit and Delete include Read. People get their group&apos;s new rights the next time they sign in.</source>
        <translation>Consulter affiche un écran, Modifier permet de le modifier, Supprimer permet d&apos;y supprimer des enregistrements ; Modifier et Supprimer incluent Consulter. Les personnes reçoivent les nouveaux droits de leur groupe à leur prochaine connexion.</translation>
    </message>
    <message>
        <source>Permissions</source>
        <translation>Autorisations</translation>
    </message>
    <message>
        <source>Reload shows the permissions as they are now saved; your ticks are discarded. Keep my changes leaves them here, unsaved.</source>
        <translation>Recharger affiche les autorisations telles qu&apos;elles sont enregistrées maintenant ; vos coches sont abandonnées. Garder mes modifications les laisse ici, non enregistrées.</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Chargement…</translation>
    </message>
    <message>
        <source>The group was not deleted</source>
        <translation>Le groupe n&apos;a pas été supprimé</translation>
    </message>
    <message>
        <source>The groups could not be loaded</source>
        <translation>Les groupes n&apos;ont pas pu être chargés</translation>
    </message>
    <message>
        <source>The permissions could not be loaded</source>
        <translation>Les autorisations n&apos;ont pas pu être chargées</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Enregistrement…</translation>
    </message>
    <message>
        <source>The permissions were not saved</source>
        <translation>Les autorisations n&apos;ont pas été enregistrées</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>Vérification…</translation>
    </message>
    <message>
        <source>Deleting…</source>
        <translation>Suppression…</translation>
    </message>
    <message>
        <source>Not saved. {reason}</source>
        <translation>Non enregistré. {reason}</translation>
    </message>
    <message>
        <source>Groups or permissions were changed on another workstation. Your ticks here are not saved yet.</source>
        <translation>Des groupes ou des autorisations ont été modifiés sur un autre poste de travail. Vos coches ici ne sont pas encore enregistrées.</translation>
    </message>
    <message>
        <source>1 module changed, not saved yet.</source>
        <translation>1 module modifié, pas encore enregistré.</translation>
    </message>
    <message>
        <source>{n} modules changed, not saved yet.</source>
        <translation>{n} modules modifiés, pas encore enregistrés.</translation>
    </message>
    <message>
        <source>Permissions of {group}</source>
        <translation>Autorisations de {group}</translation>
    </message>
    <message>
        <source>Permissions of {group} saved.</source>
        <translation>Autorisations de {group} enregistrées.</translation>
    </message>
    <message>
        <source>Group {group} created, without any right yet: tick what it may do, then Save Permissions.</source>
        <translation>Groupe {group} créé, encore sans aucun droit : cochez ce qu&apos;il peut faire, puis cliquez sur Enregistrer.</translation>
    </message>
    <message>
        <source>New user group</source>
        <translation>Nouveau groupe d&apos;utilisateurs</translation>
    </message>
    <message>
        <source>Create</source>
        <translation>Créer</translation>
    </message>
    <message>
        <source>Group renamed to {group}.</source>
        <translation>Groupe renommé en {group}.</translation>
    </message>
    <message>
        <source>Rename user group</source>
        <translation>Renommer le groupe d&apos;utilisateurs</translation>
    </message>
    <message>
        <source>Rename</source>
        <translation>Renommer</translation>
    </message>
    <message>
        <source>Group {group} deleted.</source>
        <translation>Groupe {group} supprimé.</translation>
    </message>
    <message>
        <source>Delete user group</source>
        <translation>Supprimer le groupe d&apos;utilisateurs</translation>
    </message>
    <message>
        <source>Delete the group {group}?</source>
        <translation>Supprimer le groupe {group} ?</translation>
    </message>
    <message>
        <source>Delete group</source>
        <translation>Supprimer le groupe</translation>
    </message>
    <message>
        <source>Its permissions are removed with it. This cannot be undone.</source>
        <translation>Ses autorisations sont supprimées avec lui. Cette action est irréversible.</translation>
    </message>
    <message>
        <source>Discard your changes to the permissions of {group}?</source>
        <translation>Abandonner vos modifications des autorisations de {group} ?</translation>
    </message>
    <message>
        <source>That did not work</source>
        <translation>Cela n&apos;a pas fonctionné</translation>
    </message>
</context>
<context>
    <name>PersonAccess</name>
    <message>
        <source>Access</source>
        <translation>Accès</translation>
    </message>
    <message>
        <source>Lets this person open the suite&apos;s separate apps. What they may see and do in pmdesk comes from their user group (System → Permissions).</source>
        <translation>Permet à cette personne d&apos;ouvrir les applications distinctes de la suite. Ce qu&apos;elle peut voir et faire dans pmdesk dépend de son groupe d&apos;utilisateurs (Système → Autorisations).</translation>
    </message>
</context>
<context>
    <name>PersonActions</name>
    <message>
        <source>Delete person</source>
        <translation>Supprimer la personne</translation>
    </message>
    <message>
        <source>Delete {name}?</source>
        <translation>Supprimer {name} ?</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Supprimer</translation>
    </message>
    <message>
        <source>Deleting…</source>
        <translation>Suppression…</translation>
    </message>
    <message>
        <source>Their login and trusted IP addresses are removed too. This cannot be undone.</source>
        <translation>Son identifiant et ses adresses IP de confiance sont également supprimés. Cette action est irréversible.</translation>
    </message>
    <message>
        <source>{name} can sign in again.</source>
        <translation>{name} peut de nouveau se connecter.</translation>
    </message>
    <message>
        <source>Unlocking…</source>
        <translation>Déblocage…</translation>
    </message>
    <message>
        <source>{name} is signed out everywhere ({n} sessions ended).</source>
        <translation>{name} est déconnecté partout ({n} sessions fermées).</translation>
    </message>
    <message>
        <source>End sessions</source>
        <translation>Fermer les sessions</translation>
    </message>
    <message>
        <source>Sign {name} out everywhere?</source>
        <translation>Déconnecter {name} partout ?</translation>
    </message>
    <message>
        <source>Ending sessions…</source>
        <translation>Fermeture des sessions…</translation>
    </message>
    <message>
        <source>Their desktop apps return to the login dialog within a minute, and their command-line sessions stop working. They can sign in again.</source>
        <translation>Dans la minute, ses applications de bureau reviennent à la fenêtre de connexion et ses sessions en ligne de commande cessent de fonctionner. Cette personne pourra se reconnecter.</translation>
    </message>
    <message>
        <source>Trusted address removed.</source>
        <translation>Adresse de confiance retirée.</translation>
    </message>
    <message>
        <source>Remove trusted address</source>
        <translation>Retirer l&apos;adresse de confiance</translation>
    </message>
    <message>
        <source>Remove this trusted address of {name}?</source>
        <translation>Retirer cette adresse de confiance de {name} ?</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Retirer</translation>
    </message>
    <message>
        <source>Removing…</source>
        <translation>Retrait…</translation>
    </message>
    <message>
        <source>Logins from there will need a security code again.</source>
        <translation>Les connexions depuis cette adresse demanderont de nouveau un code de sécurité.</translation>
    </message>
    <message>
        <source>Issuing…</source>
        <translation>Création…</translation>
    </message>
    <message>
        <source>The helpdesk code of {name} is cancelled.</source>
        <translation>Le code helpdesk de {name} est révoqué.</translation>
    </message>
    <message>
        <source>Cancel helpdesk code</source>
        <translation>Révoquer le code helpdesk</translation>
    </message>
    <message>
        <source>Cancel the helpdesk code of {name}?</source>
        <translation>Révoquer le code helpdesk de {name} ?</translation>
    </message>
    <message>
        <source>Cancel code</source>
        <translation>Révoquer le code</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>Révocation…</translation>
    </message>
    <message>
        <source>It stops working at once. You can issue a new one.</source>
        <translation>Il cesse immédiatement de fonctionner. Vous pouvez en créer un nouveau.</translation>
    </message>
    <message>
        <source>Keep it</source>
        <translation>Conserver</translation>
    </message>
</context>
<context>
    <name>PersonAddress</name>
    <message>
        <source>Click here to change the address.</source>
        <translation>Cliquez ici pour modifier l&apos;adresse.</translation>
    </message>
    <message>
        <source>No address yet</source>
        <translation>Pas encore d&apos;adresse</translation>
    </message>
    <message>
        <source>Click here to see the whole address.</source>
        <translation>Cliquez ici pour voir l&apos;adresse complète.</translation>
    </message>
</context>
<context>
    <name>PersonEditor</name>
    <message>
        <source>Personnel data</source>
        <translation>Données du personnel</translation>
    </message>
    <message>
        <source>Newsletter</source>
        <translation>Newsletter</translation>
    </message>
    <message>
        <source>Invoicing</source>
        <translation>Facturation</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>Adresse</translation>
    </message>
    <message>
        <source>Use e-mail for</source>
        <translation>E-mail pour</translation>
    </message>
    <message>
        <source>Security</source>
        <translation>Sécurité</translation>
    </message>
    <message>
        <source>Whether this person is listed in the suite&apos;s separate apps. It has nothing to do with the password: pmdesk lists this person and lets them sign in either way.</source>
        <translation>Indique si cette personne apparaît dans les applications distinctes de la suite. Sans rapport avec le mot de passe : pmdesk affiche cette personne et lui permet de se connecter dans tous les cas.</translation>
    </message>
    <message>
        <source>Confirm password</source>
        <translation>Confirmer le mot de passe</translation>
    </message>
    <message>
        <source>select a location</source>
        <translation>choisir un site</translation>
    </message>
    <message>
        <source>select a usergroup</source>
        <translation>choisir un groupe</translation>
    </message>
    <message>
        <source>select a language</source>
        <translation>choisir une langue</translation>
    </message>
    <message>
        <source>select a team</source>
        <translation>choisir une équipe</translation>
    </message>
    <message>
        <source>New person</source>
        <translation>Nouvelle personne</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>Identifiant</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>Mot de passe</translation>
    </message>
    <message>
        <source>Lastname</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Forename</source>
        <translation>Prénom</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>Numéro</translation>
    </message>
    <message>
        <source>Street</source>
        <translation>Rue</translation>
    </message>
    <message>
        <source>Postcode</source>
        <translation>Code postal</translation>
    </message>
    <message>
        <source>City</source>
        <translation>Localité</translation>
    </message>
    <message>
        <source>Country</source>
        <translation>Pays</translation>
    </message>
    <message>
        <source>Phone</source>
        <translation>Téléphone</translation>
    </message>
    <message>
        <source>Mobile</source>
        <translation>GSM</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <source>Use e-mail for Newsletter</source>
        <translation>Utiliser l&apos;e-mail pour la newsletter</translation>
    </message>
    <message>
        <source>Use e-mail for Invoicing</source>
        <translation>Utiliser l&apos;e-mail pour la facturation</translation>
    </message>
    <message>
        <source>Location</source>
        <translation>Site</translation>
    </message>
    <message>
        <source>Usergroup</source>
        <translation>Groupe d&apos;utilisateurs</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Langue</translation>
    </message>
    <message>
        <source>Team</source>
        <translation>Équipe</translation>
    </message>
    <message>
        <source>Hourly Cost</source>
        <translation>Coût horaire</translation>
    </message>
    <message>
        <source>Confirm</source>
        <translation>Confirmer</translation>
    </message>
    <message>
        <source>Visible in the suite&apos;s apps</source>
        <translation>Visible dans la suite</translation>
    </message>
    <message>
        <source>Planning</source>
        <translation>Planning</translation>
    </message>
    <message>
        <source>Notifications</source>
        <translation>Notifications</translation>
    </message>
    <message>
        <source>Inspection</source>
        <translation>Contrôle technique</translation>
    </message>
    <message>
        <source>Webservice</source>
        <translation>Service web</translation>
    </message>
    <message>
        <source>Courtesy Car</source>
        <translation>Véhicule de remplacement</translation>
    </message>
    <message>
        <source>Reception</source>
        <translation>Accueil</translation>
    </message>
    <message>
        <source>Leave empty to keep the current password. A new password removes this person&apos;s trusted IP addresses.</source>
        <translation>Laissez vide pour garder le mot de passe actuel. Un nouveau mot de passe retire les adresses IP de confiance de cette personne.</translation>
    </message>
    <message>
        <source>unchanged</source>
        <translation>inchangé</translation>
    </message>
    <message>
        <source>A new person who gets a login needs a password of at least 8 characters.</source>
        <translation>Une nouvelle personne qui reçoit un identifiant a besoin d&apos;un mot de passe d&apos;au moins 8 caractères.</translation>
    </message>
    <message>
        <source>No password yet: give one to let this person sign in.</source>
        <translation>Pas encore de mot de passe : saisissez-en un pour que cette personne puisse se connecter.</translation>
    </message>
    <message>
        <source>at least 8 characters</source>
        <translation>au moins 8 caractères</translation>
    </message>
    <message>
        <source>the same again</source>
        <translation>le même à nouveau</translation>
    </message>
</context>
<context>
    <name>PersonFormPanel</name>
    <message>
        <source>Save</source>
        <translation>Enregistrer</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Supprimer</translation>
    </message>
    <message>
        <source>View only: you have Read rights on Maintenance. Changing people needs Edit rights (System → Permissions).</source>
        <translation>Consultation seule : vous avez le droit Consulter sur Maintenance. Pour modifier des personnes, il faut le droit Modifier (Système → Autorisations).</translation>
    </message>
    <message>
        <source>Nobody is in the personnel list yet.</source>
        <translation>La liste du personnel est encore vide.</translation>
    </message>
    <message>
        <source>Click New to add the first person.</source>
        <translation>Cliquez sur Nouveau pour ajouter la première personne.</translation>
    </message>
</context>
<context>
    <name>PersonLock</name>
    <message>
        <source>Unlock</source>
        <translation>Débloquer</translation>
    </message>
    <message>
        <source>Locked until {time} after {n} failed logins.</source>
        <translation>Bloqué jusqu&apos;au {time} après {n} échecs de connexion.</translation>
    </message>
    <message>
        <source>Not locked.</source>
        <translation>Non bloqué.</translation>
    </message>
    <message>
        <source>{n} failed logins since the last success.</source>
        <translation>{n} échecs de connexion depuis la dernière réussie.</translation>
    </message>
</context>
<context>
    <name>PersonSessions</name>
    <message>
        <source>Open sessions</source>
        <translation>Sessions ouvertes</translation>
    </message>
    <message>
        <source>Where</source>
        <translation>Où</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>Adresse</translation>
    </message>
    <message>
        <source>Workstation</source>
        <translation>Poste de travail</translation>
    </message>
    <message>
        <source>Last used</source>
        <translation>Dernière utilisation</translation>
    </message>
    <message>
        <source>No open sessions.</source>
        <translation>Aucune session ouverte.</translation>
    </message>
    <message>
        <source>End sessions</source>
        <translation>Fermer les sessions</translation>
    </message>
    <message>
        <source>Sign this person out everywhere: desktop apps and the command line</source>
        <translation>Déconnecter cette personne partout : applications de bureau et ligne de commande</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>inconnue</translation>
    </message>
</context>
<context>
    <name>PersonTrustedIps</name>
    <message>
        <source>Trusted IP addresses</source>
        <translation>Adresses IP de confiance</translation>
    </message>
    <message>
        <source>IP</source>
        <translation>IP</translation>
    </message>
    <message>
        <source>Creation Date</source>
        <translation>Date de création</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>Expire le</translation>
    </message>
    <message>
        <source>No trusted addresses: this person enters a code at every login while two-step authentication is on.</source>
        <translation>Aucune adresse de confiance : tant que la connexion en deux étapes est active, cette personne saisit un code à chaque connexion.</translation>
    </message>
    <message>
        <source>Click the red icon to remove an address trusted by mistake (a home network, say): logins from there need a security code again.</source>
        <translation>Cliquez sur l&apos;icône rouge pour retirer une adresse approuvée par erreur (un réseau domestique, par exemple) : les connexions depuis cette adresse demanderont de nouveau un code de sécurité.</translation>
    </message>
    <message>
        <source>Remove this trusted address</source>
        <translation>Retirer cette adresse de confiance</translation>
    </message>
    <message>
        <source>Remove {address}</source>
        <translation>Retirer {address}</translation>
    </message>
</context>
<context>
    <name>PersonnelList</name>
    <message>
        <source>Search name, number, login or e-mail</source>
        <translation>Rechercher nom, numéro, identifiant ou e-mail</translation>
    </message>
    <message>
        <source>Search personnel</source>
        <translation>Rechercher dans le personnel</translation>
    </message>
    <message>
        <source>New</source>
        <translation>Nouveau</translation>
    </message>
    <message>
        <source>Reload the list (F5)</source>
        <translation>Actualiser la liste (F5)</translation>
    </message>
    <message>
        <source>Reload the list</source>
        <translation>Actualiser la liste</translation>
    </message>
    <message>
        <source>Personnel</source>
        <translation>Personnel</translation>
    </message>
    <message>
        <source>1 person matches</source>
        <translation>1 personne trouvée</translation>
    </message>
    <message>
        <source>{n} people match</source>
        <translation>{n} personnes trouvées</translation>
    </message>
    <message>
        <source>1 person</source>
        <translation>1 personne</translation>
    </message>
    <message>
        <source>{n} people</source>
        <translation>{n} personnes</translation>
    </message>
    <message>
        <source>The list could not be loaded</source>
        <translation>La liste n&apos;a pas pu être chargée</translation>
    </message>
</context>
<context>
    <name>PersonnelModel</name>
    <message>
        <source>Lastname</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Forename</source>
        <translation>Prénom</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>Numéro</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>Identifiant</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <source>Usergroup</source>
        <translation>Groupe d&apos;utilisateurs</translation>
    </message>
    <message>
        <source>Locked</source>
        <translation>Bloqué</translation>
    </message>
    <message>
        <source>Click to sort by {column}</source>
        <extracomment>A fresh count arrived (after a search, a sort or a refresh). A query failed: the exception (shown by the page).</extracomment>
        <translation>Cliquez pour trier par {column}</translation>
    </message>
    <message>
        <source>Locked until {time}</source>
        <translation>Bloqué jusqu&apos;au {time}</translation>
    </message>
</context>
<context>
    <name>PersonnelPage</name>
    <message>
        <source>{name} saved.</source>
        <translation>{name} enregistré.</translation>
    </message>
    <message>
        <source>Your input is still here: Save adds it as a new person.</source>
        <translation>Votre saisie est conservée : Enregistrer l&apos;ajoute comme nouvelle personne.</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Chargement…</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Enregistrement…</translation>
    </message>
    <message>
        <source>{name} was deleted.</source>
        <translation>{name} a été supprimé.</translation>
    </message>
    <message>
        <source>the new person</source>
        <translation>la nouvelle personne</translation>
    </message>
    <message>
        <source>Discard your changes to {name}?</source>
        <translation>Abandonner vos modifications de {name} ?</translation>
    </message>
    <message>
        <source>That did not work</source>
        <translation>Cela n&apos;a pas fonctionné</translation>
    </message>
    <message>
        <source>Not saved: correct the fields marked in red.</source>
        <translation>Non enregistré : corrigez les champs marqués en rouge.</translation>
    </message>
    <message>
        <source>You cannot delete your own account.</source>
        <translation>Vous ne pouvez pas supprimer votre propre compte.</translation>
    </message>
</context>
<context>
    <name>ReadinessDialog</name>
    <message>
        <source>Turn on two-step authentication</source>
        <translation>Activer la connexion en deux étapes</translation>
    </message>
    <message>
        <source>1 person could not receive a security code.</source>
        <translation>1 personne ne pourrait pas recevoir de code de sécurité.</translation>
    </message>
    <message>
        <source>{n} people could not receive a security code.</source>
        <translation>{n} personnes ne pourraient pas recevoir de code de sécurité.</translation>
    </message>
    <message>
        <source>With two-step authentication on, they could no longer sign in from an address that is not trusted. Codes go by: {delivery}.</source>
        <translation>Avec la connexion en deux étapes activée, elles ne pourraient plus se connecter depuis une adresse qui n&apos;est pas de confiance. Les codes sont envoyés par : {delivery}.</translation>
    </message>
    <message>
        <source>Everyone who can sign in can receive a security code.</source>
        <translation>Toute personne qui peut se connecter peut recevoir un code de sécurité.</translation>
    </message>
    <message>
        <source>From now on, signing in from an address that is not trusted asks for a code sent by: {delivery}.</source>
        <translation>Désormais, se connecter depuis une adresse qui n&apos;est pas de confiance demande un code envoyé par : {delivery}.</translation>
    </message>
    <message>
        <source>People who could not receive a code</source>
        <translation>Personnes qui ne pourraient pas recevoir de code</translation>
    </message>
    <message>
        <source>Give them an e-mail address (or a mobile number for SMS) in Maintenance → Personnel first, or turn it on anyway.</source>
        <translation>Donnez-leur d&apos;abord une adresse e-mail (ou un numéro de GSM pour les SMS) dans Maintenance → Personnel, ou activez-la quand même.</translation>
    </message>
    <message>
        <source>Enable anyway</source>
        <translation>Activer quand même</translation>
    </message>
    <message>
        <source>Enable</source>
        <translation>Activer</translation>
    </message>
</context>
<context>
    <name>SearchBox</name>
    <message>
        <source>Search</source>
        <translation>Rechercher</translation>
    </message>
    <message>
        <source>Clear</source>
        <translation>Effacer</translation>
    </message>
</context>
<context>
    <name>SecurityPage</name>
    <message>
        <source>Reload shows the settings as they are now saved; what you typed here is discarded. Keep my changes leaves them here, unsaved.</source>
        <extracomment>The trusted IP table shows a fresh page (after a reload, a filter, paging or a removal).</extracomment>
        <translation>Recharger affiche les paramètres tels qu&apos;ils sont enregistrés maintenant ; ce que vous avez saisi ici est abandonné. Garder mes modifications les laisse ici, non enregistrées.</translation>
    </message>
    <message>
        <source>The security settings could not be loaded</source>
        <translation>Les paramètres de sécurité n&apos;ont pas pu être chargés</translation>
    </message>
    <message>
        <source>The connection status could not be read</source>
        <translation>L&apos;état de la connexion n&apos;a pas pu être lu</translation>
    </message>
    <message>
        <source>Checking who can receive a code…</source>
        <translation>Vérification de qui peut recevoir un code…</translation>
    </message>
    <message>
        <source>The check did not work</source>
        <translation>La vérification a échoué</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Enregistrement…</translation>
    </message>
    <message>
        <source>The change was not saved</source>
        <translation>La modification n&apos;a pas été enregistrée</translation>
    </message>
    <message>
        <source>What the shorter period would end could not be read</source>
        <translation>Ce que la période plus courte mettrait fin n&apos;a pas pu être lu</translation>
    </message>
    <message>
        <source>Not saved</source>
        <translation>Non enregistré</translation>
    </message>
    <message>
        <source>Not saved: correct the fields marked in red.</source>
        <translation>Non enregistré : corrigez les champs marqués en rouge.</translation>
    </message>
    <message>
        <source>The test code could not be sent</source>
        <translation>Le code de test n&apos;a pas pu être envoyé</translation>
    </message>
    <message>
        <source>The security settings were changed on another workstation. Your changes here are not saved yet; reload (F5) to see theirs.</source>
        <translation>Les paramètres de sécurité ont été modifiés sur un autre poste de travail. Vos modifications ici ne sont pas encore enregistrées ; rechargez (F5) pour voir les leurs.</translation>
    </message>
    <message>
        <source>Discard your changes to the security settings and reload?</source>
        <translation>Abandonner vos modifications des paramètres de sécurité et recharger ?</translation>
    </message>
    <message>
        <source>Discard and reload</source>
        <translation>Abandonner et recharger</translation>
    </message>
    <message>
        <source>Turn off two-step authentication</source>
        <translation>Désactiver la connexion en deux étapes</translation>
    </message>
    <message>
        <source>Turn two-step authentication off?</source>
        <translation>Désactiver la connexion en deux étapes ?</translation>
    </message>
    <message>
        <source>Turn off</source>
        <translation>Désactiver</translation>
    </message>
    <message>
        <source>A password alone will be enough to sign in, from any address.</source>
        <translation>Un mot de passe seul suffira pour se connecter, depuis n&apos;importe quelle adresse.</translation>
    </message>
    <message>
        <source>Two-step authentication is on.</source>
        <translation>La connexion en deux étapes est activée.</translation>
    </message>
    <message>
        <source>Two-step authentication is off.</source>
        <translation>La connexion en deux étapes est désactivée.</translation>
    </message>
    <message>
        <source>Settings saved, but the {what} was not stored in the keyring; it is still in its field. Save again once the keyring works.</source>
        <translation>Paramètres enregistrés, mais {what} n&apos;a pas été conservé dans le trousseau ; il est toujours dans son champ. Enregistrez à nouveau dès que le trousseau fonctionne.</translation>
    </message>
    <message>
        <source>Saved. Send a test code to check it works.</source>
        <translation>Enregistré. Envoyez un code de test pour vérifier que cela fonctionne.</translation>
    </message>
    <message>
        <source>Test code for {to} written to {file}</source>
        <translation>Code de test pour {to} écrit dans {file}</translation>
    </message>
    <message>
        <source>Test code sent to {to} ({how}).</source>
        <translation>Code de test envoyé à {to} ({how}).</translation>
    </message>
    <message>
        <source>Sending a test code to {to}…</source>
        <translation>Envoi d&apos;un code de test à {to}…</translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation>Votre groupe d&apos;utilisateurs doit avoir Système → Sécurité Modifier pour changer ceci.</translation>
    </message>
</context>
<context>
    <name>ShutOutModel</name>
    <message>
        <source>Name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>Identifiant</translation>
    </message>
    <message>
        <source>Why</source>
        <translation>Pourquoi</translation>
    </message>
</context>
<context>
    <name>TraceDialog</name>
    <message>
        <source>Trace {address}</source>
        <translation>Traçage {address}</translation>
    </message>
    <message>
        <source>Trusted for</source>
        <translation>De confiance pour</translation>
    </message>
    <message>
        <source>Who has this address trusted</source>
        <translation>Qui fait confiance à cette adresse</translation>
    </message>
    <message>
        <source>User</source>
        <translation>Utilisateur</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Creation Date</source>
        <translation>Date de création</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>Expire le</translation>
    </message>
    <message>
        <source>Events at this address</source>
        <translation>Événements à cette adresse</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>Heure</translation>
    </message>
    <message>
        <source>Actor</source>
        <translation>Auteur</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Événement</translation>
    </message>
    <message>
        <source>Subject</source>
        <translation>Objet</translation>
    </message>
    <message>
        <source>Workstation</source>
        <translation>Poste de travail</translation>
    </message>
    <message>
        <source>The trace could not be read</source>
        <translation>Le traçage n&apos;a pas pu être lu</translation>
    </message>
    <message>
        <source>Reading…</source>
        <translation>Lecture…</translation>
    </message>
    <message>
        <source>Trusted for nobody</source>
        <translation>De confiance pour personne</translation>
    </message>
    <message>
        <source>Trusted for 1 person</source>
        <translation>De confiance pour 1 personne</translation>
    </message>
    <message>
        <source>Trusted for {n} people</source>
        <translation>De confiance pour {n} personnes</translation>
    </message>
    <message>
        <source>No events at this address</source>
        <translation>Aucun événement à cette adresse</translation>
    </message>
    <message>
        <source>Events at this address ({n}, newest first)</source>
        <translation>Événements à cette adresse ({n}, les plus récents d&apos;abord)</translation>
    </message>
    <message>
        <source>Seen there: {people}</source>
        <translation>Vus à cette adresse : {people}</translation>
    </message>
</context>
<context>
    <name>TrustBox</name>
    <message>
        <source>Trust and codes</source>
        <extracomment>Something was typed or changed (the message and the fields&apos; errors are cleared).</extracomment>
        <translation>Confiance et codes</translation>
    </message>
    <message>
        <source> days</source>
        <translation> jours</translation>
    </message>
    <message>
        <source> minutes</source>
        <translation> minutes</translation>
    </message>
    <message>
        <source> hours</source>
        <translation> heures</translation>
    </message>
    <message>
        <source>How long `pmdesk login` keeps the command line signed in. The desktop app stays signed in while it is open.</source>
        <translation>Durée pendant laquelle `pmdesk login` garde la ligne de commande connectée. L&apos;application de bureau reste connectée tant qu&apos;elle est ouverte.</translation>
    </message>
    <message>
        <source>e.g. 10.0.0.5, 10.1.0.0/24</source>
        <translation>p. ex. 10.0.0.5, 10.1.0.0/24</translation>
    </message>
    <message>
        <source>Never trust these addresses</source>
        <translation>Ne jamais faire confiance à ces adresses</translation>
    </message>
    <message>
        <source>Proxies and connection poolers: everyone behind them shares their address, so it is never trusted. IP addresses or networks, separated by commas.</source>
        <translation>Proxys et poolers de connexions : tous ceux qui sont derrière partagent leur adresse, qui n&apos;est donc jamais de confiance. Adresses IP ou réseaux, séparés par des virgules.</translation>
    </message>
    <message>
        <source>e.g. helpdesk@example.com (optional)</source>
        <translation>p. ex. helpdesk@example.com (facultatif)</translation>
    </message>
    <message>
        <source>Helpdesk mailbox for trust alerts</source>
        <translation>Boîte du helpdesk pour les alertes de confiance</translation>
    </message>
    <message>
        <source>When an address outside the office networks is trusted, the person gets an e-mail (&quot;Not you? Call the helpdesk&quot;); this mailbox gets a copy. One e-mail address; empty: only the person.</source>
        <translation>Quand une adresse hors des réseaux du bureau devient de confiance, la personne reçoit un e-mail (« Ce n&apos;était pas vous ? Appelez le helpdesk ») ; cette boîte reçoit une copie. Une adresse e-mail ; vide : la personne seule.</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>Enregistrer</translation>
    </message>
    <message>
        <source>Trust an address for</source>
        <translation>Confiance pendant</translation>
    </message>
    <message>
        <source>A code is valid for</source>
        <translation>Code valable pendant</translation>
    </message>
    <message>
        <source>Never trust</source>
        <translation>Jamais de confiance</translation>
    </message>
    <message>
        <source>Command-line sessions last</source>
        <translation>Sessions en ligne de commande</translation>
    </message>
    <message>
        <source>Helpdesk mailbox</source>
        <translation>Boîte helpdesk</translation>
    </message>
    <message>
        <source>Trusted addresses are removed automatically when their time is up; a shorter period applies at once. On a shared database (PostgreSQL, MariaDB), loopback, link-local and local-socket connections are never trusted either. A trust outside the office networks is announced by e-mail to the person and the helpdesk mailbox.</source>
        <translation>Les adresses de confiance sont retirées automatiquement à l&apos;échéance ; une période plus courte s&apos;applique immédiatement. Sur une base de données partagée (PostgreSQL, MariaDB), les connexions loopback, link-local et par socket local ne sont jamais de confiance non plus. Une confiance hors des réseaux du bureau est annoncée par e-mail à la personne et à la boîte du helpdesk.</translation>
    </message>
</context>
<context>
    <name>TrustImpact</name>
    <message>
        <source>No trusted address is affected.</source>
        <translation>Aucune adresse de confiance n&apos;est concernée.</translation>
    </message>
    <message>
        <source>{effect}: their next sign-in asks for a code.</source>
        <translation>{effect} : leur prochaine connexion demandera un code.</translation>
    </message>
</context>
<context>
    <name>TrustSaving</name>
    <message>
        <source>Shorten the trust period</source>
        <translation>Raccourcir la période de confiance</translation>
    </message>
    <message>
        <source>Trust addresses for {days} days instead of {before}?</source>
        <translation>Faire confiance aux adresses pendant {days} jours au lieu de {before} ?</translation>
    </message>
    <message>
        <source>Shorten</source>
        <translation>Raccourcir</translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation>Enregistré.</translation>
    </message>
</context>
<context>
    <name>TrustedIpModel</name>
    <message>
        <source>Id</source>
        <translation>Id</translation>
    </message>
    <message>
        <source>IP</source>
        <translation>IP</translation>
    </message>
    <message>
        <source>Network</source>
        <translation>Réseau</translation>
    </message>
    <message>
        <source>Creation Date</source>
        <translation>Création</translation>
    </message>
    <message>
        <source>User</source>
        <translation>Utilisateur</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>Expire</translation>
    </message>
    <message>
        <source>Reasons</source>
        <translation>Raisons</translation>
    </message>
    <message>
        <source>Outside</source>
        <translation>Hors bureau</translation>
    </message>
    <message>
        <source>Public</source>
        <translation>Publique</translation>
    </message>
    <message>
        <source>Never used</source>
        <translation>Jamais utilisée</translation>
    </message>
    <message>
        <source>Shared ({n})</source>
        <translation>Partagée ({n})</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Retirer</translation>
    </message>
    <message>
        <source>Remove {address}</source>
        <translation>Retirer {address}</translation>
    </message>
    <message>
        <source>last used {time}</source>
        <translation>dernière utilisation le {time}</translation>
    </message>
    <message>
        <source>Trusted {created}, expires {expires}</source>
        <translation>De confiance depuis le {created}, expire le {expires}</translation>
    </message>
    <message>
        <source>In none of the office networks (System → Security): a home, café or hotel?</source>
        <translation>Dans aucun réseau du bureau (Système → Sécurité) : un domicile, un café ou un hôtel ?</translation>
    </message>
    <message>
        <source>Login: {login}</source>
        <translation>Identifiant : {login}</translation>
    </message>
    <message>
        <source>Remove this trusted address: logins from it need a code again</source>
        <translation>Retirer cette adresse de confiance : les connexions depuis celle-ci demanderont de nouveau un code</translation>
    </message>
</context>
<context>
    <name>TrustedIpPanel</name>
    <message>
        <source>Show only addresses needing review</source>
        <translation>Afficher uniquement les adresses à vérifier</translation>
    </message>
    <message>
        <source>Only addresses outside the office networks, public ones, ones shared by several people and ones never used since they were trusted</source>
        <translation>Uniquement les adresses hors des réseaux du bureau, les adresses publiques, celles partagées par plusieurs personnes et celles jamais utilisées depuis la mise en confiance</translation>
    </message>
    <message>
        <source>Trusted IP addresses ({n} to review)</source>
        <translation>Adresses IP de confiance ({n} à vérifier)</translation>
    </message>
    <message>
        <source>Trusted IP addresses</source>
        <translation>Adresses IP de confiance</translation>
    </message>
    <message>
        <source>Needs review ({n})</source>
        <translation>À vérifier ({n})</translation>
    </message>
    <message>
        <source>Needs review</source>
        <translation>À vérifier</translation>
    </message>
    <message>
        <source>{tab} ({n} to review)</source>
        <translation>{tab} ({n} à vérifier)</translation>
    </message>
    <message>
        <source>This is an overview of all IP addresses that are trusted. Click the red icon to remove one trusted by mistake (a home network, say): logins from there need a security code again.</source>
        <extracomment>The table shows a fresh page (after a reload, a filter, paging or a removal). Reload (F5) was clicked: the page reloads everything. &quot;Trace…&quot; for the one address selected: everyone and every event there.</extracomment>
        <translation>Voici toutes les adresses IP de confiance. Cliquez sur l&apos;icône rouge pour retirer une adresse approuvée par erreur (un réseau domestique, par exemple) : les connexions depuis celle-ci demanderont de nouveau un code de sécurité.</translation>
    </message>
    <message>
        <source>Filter by user or address</source>
        <translation>Filtrer par utilisateur ou adresse</translation>
    </message>
    <message>
        <source>Filter trusted IP addresses</source>
        <translation>Filtrer les adresses IP de confiance</translation>
    </message>
    <message>
        <source>Reload (F5)</source>
        <translation>Actualiser (F5)</translation>
    </message>
    <message>
        <source>Reload trusted IP addresses</source>
        <translation>Actualiser les adresses IP de confiance</translation>
    </message>
    <message>
        <source>Trace…</source>
        <translation>Tracer…</translation>
    </message>
    <message>
        <source>Everyone who has the selected address trusted, and every event there</source>
        <translation>Tous ceux pour qui l&apos;adresse choisie est de confiance, et chaque événement à cette adresse</translation>
    </message>
    <message>
        <source>Remove selected</source>
        <translation>Retirer</translation>
    </message>
    <message>
        <source>Previous</source>
        <translation>Précédent</translation>
    </message>
    <message>
        <source>Next</source>
        <translation>Suivant</translation>
    </message>
    <message>
        <source>No items found.</source>
        <translation>Aucun élément trouvé.</translation>
    </message>
    <message>
        <source>more than {n}</source>
        <translation>plus de {n}</translation>
    </message>
    <message>
        <source>Viewing items {first}-{last} of {total}</source>
        <translation>Éléments {first}-{last} sur {total}</translation>
    </message>
    <message>
        <source>Page {page} of {pages}</source>
        <translation>Page {page} sur {pages}</translation>
    </message>
    <message>
        <source>No trusted address matches “{text}”.</source>
        <translation>Aucune adresse de confiance ne correspond à « {text} ».</translation>
    </message>
    <message>
        <source>No trusted address needs review.</source>
        <translation>Aucune adresse de confiance n&apos;est à vérifier.</translation>
    </message>
    <message>
        <source>No address is trusted at the moment.</source>
        <translation>Aucune adresse n&apos;est de confiance pour le moment.</translation>
    </message>
    <message>
        <source>The trusted addresses could not be loaded</source>
        <translation>Les adresses de confiance n&apos;ont pas pu être chargées</translation>
    </message>
    <message>
        <source>Remove selected ({n})</source>
        <translation>Retirer ({n})</translation>
    </message>
    <message>
        <source>Your user group needs System → Security Delete to remove addresses.</source>
        <translation>Votre groupe d&apos;utilisateurs doit avoir Système → Sécurité Supprimer pour retirer des adresses.</translation>
    </message>
</context>
<context>
    <name>TrustedIpRemoval</name>
    <message>
        <source>Nothing was removed</source>
        <translation>Rien n&apos;a été retiré</translation>
    </message>
    <message>
        <source>Nothing was put back</source>
        <translation>Rien n&apos;a été remis</translation>
    </message>
    <message>
        <source>Your user group may not remove trusted addresses: it needs System → Security Delete.</source>
        <translation>Votre groupe d&apos;utilisateurs ne peut pas retirer d&apos;adresses de confiance : il lui faut Système → Sécurité Supprimer.</translation>
    </message>
    <message>
        <source>Remove the trusted address {address} of {user}?</source>
        <translation>Retirer l&apos;adresse de confiance {address} de {user} ?</translation>
    </message>
    <message>
        <source>Remove {n} trusted addresses?</source>
        <translation>Retirer {n} adresses de confiance ?</translation>
    </message>
    <message>
        <source>Remove trusted address</source>
        <translation>Retirer l&apos;adresse de confiance</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Retirer</translation>
    </message>
    <message>
        <source>Logins from there will need a security code again.</source>
        <translation>Les connexions depuis cette adresse demanderont de nouveau un code de sécurité.</translation>
    </message>
    <message>
        <source>1 trusted address removed.</source>
        <translation>1 adresse de confiance retirée.</translation>
    </message>
    <message>
        <source>{n} trusted addresses removed.</source>
        <translation>{n} adresses de confiance retirées.</translation>
    </message>
    <message>
        <source>{n} of {m} removed; the others were already gone (removed on another workstation or expired).</source>
        <translation>{n} sur {m} retirées ; les autres avaient déjà disparu (retirées sur un autre poste de travail ou expirées).</translation>
    </message>
    <message>
        <source>Removed 1 trusted address.</source>
        <translation>1 adresse de confiance retirée.</translation>
    </message>
    <message>
        <source>Removed {n} trusted addresses.</source>
        <translation>{n} adresses de confiance retirées.</translation>
    </message>
    <message>
        <source>Undo: put back the addresses just removed</source>
        <translation>Annuler l&apos;action : remettre les adresses qui viennent d&apos;être retirées</translation>
    </message>
    <message>
        <source>1 trusted address put back.</source>
        <translation>1 adresse de confiance remise.</translation>
    </message>
    <message>
        <source>{n} trusted addresses put back.</source>
        <translation>{n} adresses de confiance remises.</translation>
    </message>
    <message>
        <source>Nothing was put back: the time for Undo had passed.</source>
        <translation>Rien n&apos;a été remis : le délai pour annuler l&apos;action était passé.</translation>
    </message>
</context>
<context>
    <name>TwoStepBox</name>
    <message>
        <source>Two step authentication</source>
        <translation>Connexion en deux étapes</translation>
    </message>
    <message>
        <source>Status:</source>
        <translation>État :</translation>
    </message>
    <message>
        <source>Turn on…</source>
        <translation>Activer…</translation>
    </message>
    <message>
        <source>How does it work? After the password, pmdesk asks for a 6-digit code sent to the user&apos;s e-mail address — unless they sign in from an address they trusted with &quot;Trust this IP&quot; (only on the office network).</source>
        <translation>Comment cela fonctionne-t-il ? Après le mot de passe, pmdesk demande un code à 6 chiffres envoyé à l&apos;adresse e-mail de l&apos;utilisateur — sauf s&apos;il se connecte depuis une adresse approuvée avec « Faire confiance à cette adresse IP » (uniquement sur le réseau du bureau).</translation>
    </message>
    <message>
        <source>On</source>
        <translation>Activée</translation>
    </message>
    <message>
        <source>Off</source>
        <translation>Désactivée</translation>
    </message>
    <message>
        <source>Turn off…</source>
        <translation>Désactiver…</translation>
    </message>
    <message>
        <source>Turn two-step authentication off (asks first)</source>
        <translation>Désactiver la connexion en deux étapes (demande d&apos;abord confirmation)</translation>
    </message>
    <message>
        <source>Check who can receive a code, then turn two-step authentication on</source>
        <translation>Vérifier qui peut recevoir un code, puis activer la connexion en deux étapes</translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation>Votre groupe d&apos;utilisateurs doit avoir Système → Sécurité Modifier pour changer ceci.</translation>
    </message>
    <message>
        <source>Signing in from an address that is not trusted asks for a security code.</source>
        <translation>Se connecter depuis une adresse qui n&apos;est pas de confiance demande un code de sécurité.</translation>
    </message>
    <message>
        <source>A password is enough to sign in.</source>
        <translation>Un mot de passe suffit pour se connecter.</translation>
    </message>
</context>
<context>
    <name>UndoBar</name>
    <message>
        <source>Undo</source>
        <translation>Annuler l&apos;action</translation>
    </message>
</context>
<context>
    <name>UserStatus</name>
    <message>
        <source>Signed in as {name} ({login})  ·  from {address}</source>
        <translation>Connecté en tant que {name} ({login})  ·  depuis {address}</translation>
    </message>
    <message>
        <source>Signed in as {name} ({login})</source>
        <translation>Connecté en tant que {name} ({login})</translation>
    </message>
</context>
<context>
    <name>addresses</name>
    <message>
        <source>&apos;{entry}&apos; has host bits set: did you mean {network}?</source>
        <translation>« {entry} » contient des bits d&apos;hôte : vouliez-vous dire {network} ?</translation>
    </message>
    <message>
        <source>&apos;{entry}&apos; is not an IP address or a network (10.1.0.0/24).</source>
        <translation>« {entry} » n&apos;est ni une adresse IP ni un réseau (10.1.0.0/24).</translation>
    </message>
</context>
<context>
    <name>audit</name>
    <message>
        <source>Type an IP address (192.0.2.10) or how it starts (192.0.2.).</source>
        <extracomment>How System → Log names each event (its CSV export too). Plain English; the UI translates. The Log&apos;s column titles, in its order; the CSV adds the time in UTC for machines.</extracomment>
        <translation>Saisissez une adresse IP (192.0.2.10) ou son début (192.0.2.).</translation>
    </message>
</context>
<context>
    <name>auth</name>
    <message>
        <source>Code delivery is not set up correctly ({error}).</source>
        <translation>L&apos;envoi des codes n&apos;est pas configuré correctement ({error}).</translation>
    </message>
    <message>
        <source>The code could not be sent: {error}.</source>
        <translation>Le code n&apos;a pas pu être envoyé : {error}.</translation>
    </message>
    <message>
        <source>The code could not be sent ({error}).</source>
        <translation>Le code n&apos;a pas pu être envoyé ({error}).</translation>
    </message>
    <message>
        <source>Code delivery is not set up.</source>
        <translation>L&apos;envoi des codes n&apos;est pas configuré.</translation>
    </message>
</context>
<context>
    <name>db</name>
    <message>
        <source>The database URL contains undecodable bytes or a NUL character; type it again in plain text.</source>
        <extracomment>The hardening level from which the server checks passwords (a proof computed by the client, docs/server-enforced.md §2). The hardening level from which the server makes the codes and the relay sends them and runs the expiry sweep (§3, §6). The hardening level from which the server keeps the sessions (docs/server-enforced.md §4). The hardening level from which reading needs a session too (row-level security, §5.2): before a sign-in the client asks ``pmdesk.server_info()`` instead of reading tables.</extracomment>
        <translation>L&apos;URL de la base de données contient des octets illisibles ou un caractère NUL ; saisissez-la à nouveau en texte brut.</translation>
    </message>
    <message>
        <source>Not a database URL: {url}. Use sqlite:///PATH, postgresql://USER@HOST/DB or mariadb://USER@HOST/DB.</source>
        <translation>Ce n&apos;est pas une URL de base de données : {url}. Utilisez sqlite:///CHEMIN, postgresql://UTILISATEUR@HÔTE/BD ou mariadb://UTILISATEUR@HÔTE/BD.</translation>
    </message>
    <message>
        <source>Unsupported database &apos;{backend}&apos;: pmdesk works with SQLite, PostgreSQL and MariaDB.</source>
        <translation>Base de données non prise en charge « {backend} » : pmdesk fonctionne avec SQLite, PostgreSQL et MariaDB.</translation>
    </message>
    <message>
        <source>Database (unreadable address)</source>
        <translation>Base de données (adresse illisible)</translation>
    </message>
    <message>
        <source>Embedded database (in memory)</source>
        <translation>Base de données intégrée (en mémoire)</translation>
    </message>
    <message>
        <source>Embedded database ({path})</source>
        <translation>Base de données intégrée ({path})</translation>
    </message>
    <message>
        <source>{engine} on {host} / {database}</source>
        <translation>{engine} sur {host} / {database}</translation>
    </message>
    <message>
        <source>Cannot create the database file {path}: {error}.</source>
        <translation>Impossible de créer le fichier de base de données {path} : {error}.</translation>
    </message>
    <message>
        <source>The text contains a character that cannot be stored (NUL or an unpaired surrogate, as left by undecodable bytes); nothing was saved.</source>
        <translation>Le texte contient un caractère qui ne peut pas être enregistré (NUL ou un substitut isolé, laissé par des octets illisibles) ; rien n&apos;a été enregistré.</translation>
    </message>
    <message>
        <source>Cannot reach the database {url}: {error}</source>
        <translation>Impossible de joindre la base de données {url} : {error}</translation>
    </message>
    <message>
        <source>A number is too large for the database{where}; nothing was saved. Use a smaller value.</source>
        <translation>Un nombre est trop grand pour la base de données{where} ; rien n&apos;a été enregistré. Utilisez une valeur plus petite.</translation>
    </message>
    <message>
        <source>No permission to change the database file {file}: this account may not write the file or its folder. Nothing was saved; ask whoever manages this computer to give you write access.</source>
        <translation>Pas d&apos;autorisation pour modifier le fichier de base de données {file} : ce compte ne peut pas écrire dans le fichier ou son dossier. Rien n&apos;a été enregistré ; demandez à la personne qui gère cet ordinateur de vous donner l&apos;accès en écriture.</translation>
    </message>
    <message>
        <source>The database{where} is read-only here: it can be read but not changed. Nothing was saved.</source>
        <translation>La base de données{where} est ici en lecture seule : elle peut être lue, mais pas modifiée. Rien n&apos;a été enregistré.</translation>
    </message>
    <message>
        <source>The database{where} refused: this database account has no permission for it ({detail}). Nothing was saved; ask the database administrator for the rights pmdesk needs.</source>
        <translation>La base de données{where} a refusé : ce compte de base de données n&apos;en a pas l&apos;autorisation ({detail}). Rien n&apos;a été enregistré ; demandez à l&apos;administrateur de la base de données les droits dont pmdesk a besoin.</translation>
    </message>
    <message>
        <source>The database {url} refused the work: {error}. Nothing was saved.</source>
        <translation>La base de données {url} a refusé l&apos;opération : {error}. Rien n&apos;a été enregistré.</translation>
    </message>
    <message>
        <source>The database {url} is busy: another program has kept it locked for more than {seconds} seconds. Nothing was saved; try again.</source>
        <extracomment>SQLite: how long a write waits for another program&apos;s lock (None: the default).</extracomment>
        <translation>La base de données {url} est occupée : un autre programme la verrouille depuis plus de {seconds} secondes. Rien n&apos;a été enregistré ; réessayez.</translation>
    </message>
</context>
<context>
    <name>delivery</name>
    <message>
        <source>settings</source>
        <extracomment>Not a delivery step: a message with nowhere to go (no valid number for the office&apos;s region), which the relay finds before sending and which says nothing about the method&apos;s health. Why a trust alert did not go out: codes go by text message (alerts by e-mail only) … … or there was nobody to send it to. The recipient&apos;s language (docs/i18n.md): the person&apos;s Personnel language, else the workstation&apos;s; the words of the message follow it (``pmdesk.core.delivery.message``).</extracomment>
        <translation>paramètres</translation>
    </message>
    <message>
        <source>getting a token</source>
        <translation>obtention d&apos;un jeton</translation>
    </message>
    <message>
        <source>connecting</source>
        <translation>connexion</translation>
    </message>
    <message>
        <source>signing in</source>
        <translation>authentification</translation>
    </message>
    <message>
        <source>sending</source>
        <translation>envoi</translation>
    </message>
    <message>
        <source>Failed at: {step} ({key}). {error}</source>
        <translation>Échec à l&apos;étape : {step} ({key}). {error}</translation>
    </message>
    <message>
        <source>Unknown delivery method &apos;{method}&apos;.</source>
        <translation>Méthode d&apos;envoi inconnue « {method} ».</translation>
    </message>
    <message>
        <source>Enter the Microsoft Entra tenant ID.</source>
        <translation>Saisissez l&apos;ID de locataire Microsoft Entra.</translation>
    </message>
    <message>
        <source>Enter the app&apos;s client ID.</source>
        <translation>Saisissez l&apos;ID client de l&apos;application.</translation>
    </message>
    <message>
        <source>Enter the certificate&apos;s thumbprint.</source>
        <translation>Saisissez l&apos;empreinte du certificat.</translation>
    </message>
    <message>
        <source>Enter the From address (the mailbox that sends the codes).</source>
        <translation>Saisissez l&apos;adresse d&apos;expéditeur (la boîte aux lettres qui envoie les codes).</translation>
    </message>
    <message>
        <source>Store the service account&apos;s JSON key first.</source>
        <translation>Enregistrez d&apos;abord la clé JSON du compte de service.</translation>
    </message>
    <message>
        <source>Enter the Account SID.</source>
        <translation>Saisissez l&apos;Account SID.</translation>
    </message>
    <message>
        <source>Enter the API key.</source>
        <translation>Saisissez la clé API.</translation>
    </message>
    <message>
        <source>Enter the sender of text messages (a number or a sender name).</source>
        <translation>Saisissez l&apos;expéditeur des SMS (un numéro ou un nom d&apos;expéditeur).</translation>
    </message>
    <message>
        <source>Outbox folder (for trying pmdesk out; nothing is sent)</source>
        <translation>Dossier d&apos;envoi (pour essayer pmdesk ; rien n&apos;est envoyé)</translation>
    </message>
    <message>
        <source>E-mail: mail server (SMTP) with a password</source>
        <translation>E-mail : serveur de messagerie (SMTP) avec un mot de passe</translation>
    </message>
    <message>
        <source>E-mail: Microsoft 365 (SMTP with OAuth)</source>
        <translation>E-mail : Microsoft 365 (SMTP avec OAuth)</translation>
    </message>
    <message>
        <source>E-mail: Google Workspace (SMTP with a service account)</source>
        <translation>E-mail : Google Workspace (SMTP avec un compte de service)</translation>
    </message>
    <message>
        <source>E-mail: Microsoft Graph</source>
        <translation>E-mail : Microsoft Graph</translation>
    </message>
    <message>
        <source>Text message: pmdesk SMS gateway</source>
        <translation>SMS : passerelle SMS de pmdesk</translation>
    </message>
    <message>
        <source>Text message: Twilio</source>
        <translation>SMS : Twilio</translation>
    </message>
    <message>
        <source>Text message: Vonage</source>
        <translation>SMS : Vonage</translation>
    </message>
    <message>
        <source>Text message: CM.com</source>
        <translation>SMS : CM.com</translation>
    </message>
    <message>
        <source>Outbox folder</source>
        <translation>Dossier d&apos;envoi</translation>
    </message>
    <message>
        <source>Mail server</source>
        <translation>Serveur de messagerie</translation>
    </message>
    <message>
        <source>Port</source>
        <translation>Port</translation>
    </message>
    <message>
        <source>Security</source>
        <translation>Sécurité</translation>
    </message>
    <message>
        <source>User name</source>
        <translation>Nom d&apos;utilisateur</translation>
    </message>
    <message>
        <source>From address</source>
        <translation>Adresse d&apos;expéditeur</translation>
    </message>
    <message>
        <source>Gateway URL</source>
        <translation>URL de la passerelle</translation>
    </message>
    <message>
        <source>Directory (tenant) ID</source>
        <translation>ID de l&apos;annuaire (tenant)</translation>
    </message>
    <message>
        <source>Application (client) ID</source>
        <translation>ID d&apos;application (client)</translation>
    </message>
    <message>
        <source>Sign in with</source>
        <translation>Se connecter avec</translation>
    </message>
    <message>
        <source>Certificate thumbprint</source>
        <translation>Empreinte du certificat</translation>
    </message>
    <message>
        <source>Service account</source>
        <translation>Compte de service</translation>
    </message>
    <message>
        <source>Account</source>
        <translation>Compte</translation>
    </message>
    <message>
        <source>Sender</source>
        <translation>Expéditeur</translation>
    </message>
    <message>
        <source>Numbers without country code are in</source>
        <translation>Numéros sans indicatif pays :</translation>
    </message>
    <message>
        <source>Empty: the data folder of each workstation.</source>
        <translation>Vide : le dossier de données de chaque poste de travail.</translation>
    </message>
    <message>
        <source>m365 and google: leave empty for smtp.office365.com / smtp.gmail.com.</source>
        <translation>m365 et google : laissez vide pour smtp.office365.com / smtp.gmail.com.</translation>
    </message>
    <message>
        <source>587 with STARTTLS, 465 with TLS.</source>
        <translation>587 avec STARTTLS, 465 avec TLS.</translation>
    </message>
    <message>
        <source>Never unencrypted, except to a relay on this computer.</source>
        <translation>Jamais sans chiffrement, sauf vers un relais sur cet ordinateur.</translation>
    </message>
    <message>
        <source>Only if the mail server needs a login.</source>
        <translation>Uniquement si le serveur de messagerie demande une connexion.</translation>
    </message>
    <message>
        <source>Microsoft 365, Google, Graph: the mailbox that sends the codes.</source>
        <translation>Microsoft 365, Google, Graph : la boîte aux lettres qui envoie les codes.</translation>
    </message>
    <message>
        <source>The https:// address your gateway gives you.</source>
        <translation>L&apos;adresse https:// que votre passerelle vous donne.</translation>
    </message>
    <message>
        <source>Entra admin center → Overview → Tenant ID.</source>
        <translation>Centre d&apos;administration Entra → Vue d&apos;ensemble → ID de locataire.</translation>
    </message>
    <message>
        <source>Entra admin center → App registrations → your app → Application (client) ID.</source>
        <translation>Centre d&apos;administration Entra → Inscriptions d&apos;applications → votre application → ID d&apos;application (client).</translation>
    </message>
    <message>
        <source>A client secret, or a certificate uploaded to the app registration.</source>
        <translation>Un secret client, ou un certificat chargé dans l&apos;inscription de l&apos;application.</translation>
    </message>
    <message>
        <source>Entra admin center → App registrations → your app → Certificates &amp; secrets → Thumbprint.</source>
        <translation>Centre d&apos;administration Entra → Inscriptions d&apos;applications → votre application → Certificats &amp; secrets → Empreinte numérique.</translation>
    </message>
    <message>
        <source>Taken from the service account&apos;s JSON key (Google Cloud console → IAM &amp; Admin → Service accounts → Keys).</source>
        <translation>Tiré de la clé JSON du compte de service (console Google Cloud → IAM et administration → Comptes de service → Clés).</translation>
    </message>
    <message>
        <source>Twilio: Console → Account Info → Account SID. Vonage: Dashboard → API key.</source>
        <translation>Twilio : Console → Account Info → Account SID. Vonage : Dashboard → API key.</translation>
    </message>
    <message>
        <source>A number (+32…), a name of up to 11 letters and digits, or (Twilio) a Messaging Service SID (MG…).</source>
        <translation>Un numéro (+32…), un nom de 11 lettres et chiffres au plus, ou (Twilio) un Messaging Service SID (MG…).</translation>
    </message>
    <message>
        <source>A country code such as BE or NL.</source>
        <translation>Un code pays comme BE ou FR.</translation>
    </message>
    <message>
        <source>The mail account&apos;s password.</source>
        <translation>Le mot de passe du compte de messagerie.</translation>
    </message>
    <message>
        <source>Client secret: Certificates &amp; secrets → the secret&apos;s Value (not its ID). Certificate: its PEM private key.</source>
        <translation>Secret client : Certificats &amp; secrets → la Valeur du secret (pas son ID). Certificat : sa clé privée PEM.</translation>
    </message>
    <message>
        <source>The service account&apos;s JSON key file, as downloaded.</source>
        <translation>Le fichier de clé JSON du compte de service, tel que téléchargé.</translation>
    </message>
    <message>
        <source>The gateway&apos;s bearer token.</source>
        <translation>Le jeton bearer de la passerelle.</translation>
    </message>
    <message>
        <source>Twilio Console → Account Info → Auth Token.</source>
        <translation>Twilio Console → Account Info → Auth Token.</translation>
    </message>
    <message>
        <source>Vonage API Dashboard → API secret.</source>
        <translation>Vonage API Dashboard → API secret.</translation>
    </message>
    <message>
        <source>CM.com portal → your messaging gateway → product token.</source>
        <translation>Portail CM.com → votre passerelle de messagerie → product token.</translation>
    </message>
    <message>
        <source>Security codes could not be sent recently. If yours does not arrive, tell your administrator.</source>
        <translation>Des codes de sécurité n&apos;ont pas pu être envoyés récemment. Si le vôtre n&apos;arrive pas, prévenez votre administrateur.</translation>
    </message>
    <message>
        <source>last success {when}</source>
        <translation>dernier succès {when}</translation>
    </message>
    <message>
        <source>no success yet</source>
        <translation>aucun succès pour l&apos;instant</translation>
    </message>
    <message>
        <source>The last security code could not be sent ({at}, failed at: {step}; {since}): {message}</source>
        <translation>Le dernier code de sécurité n&apos;a pas pu être envoyé ({at}, échec à l&apos;étape : {step} ; {since}) : {message}</translation>
    </message>
    <message>
        <source>The last security code could not be sent ({at}; {since}): {message}</source>
        <translation>Le dernier code de sécurité n&apos;a pas pu être envoyé ({at} ; {since}) : {message}</translation>
    </message>
    <message>
        <source>The last {n} security codes could not be sent ({at}, failed at: {step}; {since}): {message}</source>
        <translation>Les {n} derniers codes de sécurité n&apos;ont pas pu être envoyés ({at}, échec à l&apos;étape : {step} ; {since}) : {message}</translation>
    </message>
    <message>
        <source>The last {n} security codes could not be sent ({at}; {since}): {message}</source>
        <translation>Les {n} derniers codes de sécurité n&apos;ont pas pu être envoyés ({at} ; {since}) : {message}</translation>
    </message>
    <message>
        <source>{name} has no usable e-mail address, so no code can be sent.</source>
        <translation>{name} n&apos;a pas d&apos;adresse e-mail utilisable : aucun code ne peut être envoyé.</translation>
    </message>
    <message>
        <source>This person has no usable e-mail address, so no code can be sent.</source>
        <translation>Cette personne n&apos;a pas d&apos;adresse e-mail utilisable : aucun code ne peut être envoyé.</translation>
    </message>
    <message>
        <source>{outbox}: {folder}</source>
        <translation>{outbox} : {folder}</translation>
    </message>
    <message>
        <source>Could not write to the outbox folder {folder}: {why}.</source>
        <translation>Impossible d&apos;écrire dans le dossier d&apos;envoi {folder} : {why}.</translation>
    </message>
    <message>
        <source>The outbox folder {folder} cannot be created or written here: {why}.</source>
        <translation>Le dossier d&apos;envoi {folder} ne peut pas être créé ni modifié ici : {why}.</translation>
    </message>
    <message>
        <source>Enter the address (URL) of the SMS gateway.</source>
        <translation>Saisissez l&apos;adresse (URL) de la passerelle SMS.</translation>
    </message>
    <message>
        <source>&apos;{url}&apos; is not a valid SMS gateway address.</source>
        <translation>« {url} » n&apos;est pas une adresse de passerelle SMS valide.</translation>
    </message>
    <message>
        <source>The SMS gateway address must start with https:// and name a server, e.g. https://sms.example.com/send.</source>
        <translation>L&apos;adresse de la passerelle SMS doit commencer par https:// et nommer un serveur, p. ex. https://sms.example.com/send.</translation>
    </message>
    <message>
        <source>Do not put a user name or password in the SMS gateway address; the token is kept in the keyring.</source>
        <translation>Ne mettez ni nom d&apos;utilisateur ni mot de passe dans l&apos;adresse de la passerelle SMS ; le jeton est conservé dans le trousseau.</translation>
    </message>
    <message>
        <source>The SMS gateway {host} must be reached over https://; plain http:// is allowed only to a gateway on this computer.</source>
        <translation>La passerelle SMS {host} doit être jointe en https:// ; le simple http:// n&apos;est permis que vers une passerelle sur cet ordinateur.</translation>
    </message>
    <message>
        <source>Text message via the SMS gateway {where} (HTTPS)</source>
        <translation>SMS via la passerelle SMS {where} (HTTPS)</translation>
    </message>
    <message>
        <source>Text message via the SMS gateway {where} (HTTP, local gateway only)</source>
        <translation>SMS via la passerelle SMS {where} (HTTP, passerelle locale uniquement)</translation>
    </message>
    <message>
        <source>{name} has no usable mobile number, so no code can be sent by text message.</source>
        <translation>{name} n&apos;a pas de numéro de GSM utilisable : aucun code ne peut être envoyé par SMS.</translation>
    </message>
    <message>
        <source>This person has no usable mobile number, so no code can be sent by text message.</source>
        <translation>Cette personne n&apos;a pas de numéro de GSM utilisable : aucun code ne peut être envoyé par SMS.</translation>
    </message>
    <message>
        <source>Enter the mail server (SMTP host).</source>
        <translation>Saisissez le serveur de messagerie (hôte SMTP).</translation>
    </message>
    <message>
        <source>&apos;{host}&apos; is not a valid mail server name.</source>
        <translation>« {host} » n&apos;est pas un nom de serveur de messagerie valide.</translation>
    </message>
    <message>
        <source>The mail server port must be between 1 and 65535, not {port}.</source>
        <translation>Le port du serveur de messagerie doit être compris entre 1 et 65535, pas {port}.</translation>
    </message>
    <message>
        <source>The mail security must be STARTTLS, TLS or none.</source>
        <translation>La sécurité de la messagerie doit être STARTTLS, TLS ou aucune.</translation>
    </message>
    <message>
        <source>Unencrypted SMTP is allowed only to a mail server on this computer (localhost), not to {host}: choose STARTTLS or TLS.</source>
        <translation>Le SMTP non chiffré n&apos;est permis que vers un serveur de messagerie sur cet ordinateur (localhost), pas vers {host} : choisissez STARTTLS ou TLS.</translation>
    </message>
    <message>
        <source>Enter the From address for security-code e-mails.</source>
        <translation>Saisissez l&apos;adresse d&apos;expéditeur des e-mails de code de sécurité.</translation>
    </message>
    <message>
        <source>From address: {why}</source>
        <translation>Adresse d&apos;expéditeur : {why}</translation>
    </message>
    <message>
        <source>E-mail via {provider} ({where}, OAuth as {mailbox})</source>
        <translation>E-mail via {provider} ({where}, OAuth en tant que {mailbox})</translation>
    </message>
    <message>
        <source>E-mail via {where}</source>
        <translation>E-mail via {where}</translation>
    </message>
    <message>
        <source>E-mail via Microsoft Graph (HTTPS, from {mailbox})</source>
        <translation>E-mail via Microsoft Graph (HTTPS, depuis {mailbox})</translation>
    </message>
    <message>
        <source>Text message via {provider} (HTTPS, from {sender})</source>
        <translation>SMS via {provider} (HTTPS, depuis {sender})</translation>
    </message>
</context>
<context>
    <name>errors</name>
    <message>
        <source>{what} ({name}).</source>
        <translation>{what} ({name}).</translation>
    </message>
    <message>
        <source>You are not signed in, or your session has ended: sign in again.</source>
        <extracomment>What a server that needs a session says when the connection presents none that holds.</extracomment>
        <translation>Vous n&apos;êtes pas connecté ou votre session a pris fin : connectez-vous à nouveau.</translation>
    </message>
</context>
<context>
    <name>groups</name>
    <message>
        <source>The group &apos;{name}&apos; cannot be deleted: 1 person is still in it. Move them to another group in Maintenance → Personnel first.</source>
        <translation>Le groupe « {name} » ne peut pas être supprimé : 1 personne en fait encore partie. Déplacez-la d&apos;abord vers un autre groupe dans Maintenance → Personnel.</translation>
    </message>
    <message>
        <source>The group &apos;{name}&apos; cannot be deleted: {count} people are still in it. Move them to another group in Maintenance → Personnel first.</source>
        <translation>Le groupe « {name} » ne peut pas être supprimé : {count} personnes en font encore partie. Déplacez-les d&apos;abord vers un autre groupe dans Maintenance → Personnel.</translation>
    </message>
    <message>
        <source>The group name</source>
        <translation>Le nom du groupe</translation>
    </message>
    <message>
        <source>Unknown module: {modules}.</source>
        <translation>Module inconnu : {modules}.</translation>
    </message>
    <message>
        <source>This group was changed on another workstation at the same moment. Reload it and make your change again.</source>
        <translation>Ce groupe a été modifié au même moment sur un autre poste de travail. Rechargez-le et refaites votre modification.</translation>
    </message>
    <message>
        <source>This user group no longer exists (another workstation deleted it).</source>
        <translation>Ce groupe d&apos;utilisateurs n&apos;existe plus (un autre poste de travail l&apos;a supprimé).</translation>
    </message>
    <message>
        <source>The group &apos;{name}&apos; was changed on another workstation since you opened it. Reload it to see the current permissions, then make your change again.</source>
        <translation>Le groupe « {name} » a été modifié sur un autre poste de travail depuis que vous l&apos;avez ouvert. Rechargez-le pour voir les autorisations actuelles, puis refaites votre modification.</translation>
    </message>
    <message>
        <source>There is already a group called &apos;{name}&apos;.</source>
        <translation>Il existe déjà un groupe nommé « {name} ».</translation>
    </message>
    <message>
        <source>There is already a group with this name (just created elsewhere).</source>
        <translation>Il existe déjà un groupe portant ce nom (créé à l&apos;instant ailleurs).</translation>
    </message>
</context>
<context>
    <name>helpdesk</name>
    <message>
        <source>You cannot issue a helpdesk code for yourself: it would bypass your own second factor.</source>
        <translation>Vous ne pouvez pas émettre de code helpdesk pour vous-même : cela contournerait votre propre deuxième étape.</translation>
    </message>
    <message>
        <source>This person has no login, so a helpdesk code would be of no use.</source>
        <translation>Cette personne n&apos;a pas d&apos;identifiant : un code helpdesk ne lui servirait à rien.</translation>
    </message>
    <message>
        <source>A reason or ticket reference is required.</source>
        <translation>Un motif ou une référence de ticket est obligatoire.</translation>
    </message>
    <message>
        <source>A helpdesk code is valid for {low} to {high} minutes.</source>
        <translation>Un code helpdesk est valable de {low} à {high} minutes.</translation>
    </message>
    <message>
        <source>The reason</source>
        <translation>Le motif</translation>
    </message>
    <message>
        <source>This person no longer exists.</source>
        <translation>Cette personne n&apos;existe plus.</translation>
    </message>
</context>
<context>
    <name>language</name>
    <message>
        <source>You are no longer in Personnel.</source>
        <translation>Vous ne figurez plus dans le Personnel.</translation>
    </message>
    <message>
        <source>This language is not in the database.</source>
        <translation>Cette langue ne figure pas dans la base de données.</translation>
    </message>
</context>
<context>
    <name>lockout</name>
    <message>
        <source>{seconds} s</source>
        <extracomment>Consecutive failures from anywhere that lock a person everywhere (NIST SP 800-63B §5.2.2). How the unknown address (a local socket) is kept in ``login_failures.address``.</extracomment>
        <translation>{seconds} s</translation>
    </message>
    <message>
        <source>{minutes} min</source>
        <translation>{minutes} min</translation>
    </message>
    <message>
        <source>{hours} h {minutes} min</source>
        <translation>{hours} h {minutes} min</translation>
    </message>
    <message>
        <source>{hours} h</source>
        <translation>{hours} h</translation>
    </message>
</context>
<context>
    <name>login_results</name>
    <message>
        <source>The username or password is incorrect, or the account is temporarily locked.</source>
        <translation>L&apos;identifiant ou le mot de passe est incorrect, ou le compte est temporairement bloqué.</translation>
    </message>
    <message>
        <source>Two-step authentication is on and your account has no e-mail address. Ask an administrator to add one in Maintenance → Personnel.</source>
        <translation>La connexion en deux étapes est activée et votre compte n&apos;a pas d&apos;adresse e-mail. Demandez à un administrateur d&apos;en ajouter une dans Maintenance → Personnel.</translation>
    </message>
    <message>
        <source>Two-step authentication is on and your account has no mobile phone number. Ask an administrator to add one in Maintenance → Personnel.</source>
        <translation>La connexion en deux étapes est activée et votre compte n&apos;a pas de numéro de GSM. Demandez à un administrateur d&apos;en ajouter un dans Maintenance → Personnel.</translation>
    </message>
    <message>
        <source>A security code was sent less than {interval} s ago. Sign in again in {seconds} s to get a new one.</source>
        <translation>Un code de sécurité a été envoyé il y a moins de {interval} s. Reconnectez-vous dans {seconds} s pour en recevoir un nouveau.</translation>
    </message>
    <message>
        <source>Too many wrong security codes: this code no longer works. Sign in again to get a new one.</source>
        <translation>Trop de codes de sécurité erronés : ce code ne fonctionne plus. Reconnectez-vous pour en recevoir un nouveau.</translation>
    </message>
    <message>
        <source>The security code is not correct. 1 attempt left.</source>
        <translation>Le code de sécurité est incorrect. Il vous reste 1 essai.</translation>
    </message>
    <message>
        <source>The security code is not correct. {count} attempts left.</source>
        <translation>Le code de sécurité est incorrect. Il vous reste {count} essais.</translation>
    </message>
    <message>
        <source>The security code has expired. Send a new code, or sign in again.</source>
        <translation>Le code de sécurité a expiré. Envoyez un nouveau code ou reconnectez-vous.</translation>
    </message>
    <message>
        <source>This security code has already been used. Sign in again.</source>
        <translation>Ce code de sécurité a déjà été utilisé. Reconnectez-vous.</translation>
    </message>
    <message>
        <source>This login attempt was replaced by a newer sign-in. Use the newest code, or sign in again.</source>
        <translation>Cette tentative de connexion a été remplacée par une connexion plus récente. Utilisez le code le plus récent ou reconnectez-vous.</translation>
    </message>
    <message>
        <source>This login attempt is no longer valid. Sign in again.</source>
        <translation>Cette tentative de connexion n&apos;est plus valable. Reconnectez-vous.</translation>
    </message>
    <message>
        <source>A new code can be sent in {seconds} s.</source>
        <translation>Un nouveau code pourra être envoyé dans {seconds} s.</translation>
    </message>
</context>
<context>
    <name>mail</name>
    <message>
        <source>pmdesk security code</source>
        <translation>Code de sécurité pmdesk</translation>
    </message>
    <message>
        <source>pmdesk security code (test)</source>
        <translation>Code de sécurité pmdesk (test)</translation>
    </message>
    <message>
        <source>pmdesk: new trusted address for {login}</source>
        <translation>pmdesk : nouvelle adresse IP de confiance pour {login}</translation>
    </message>
    <message>
        <source>1 minute</source>
        <translation>1 minute</translation>
    </message>
    <message>
        <source>{n} minutes</source>
        <translation>{n} minutes</translation>
    </message>
    <message>
        <source>an unknown address</source>
        <translation>une adresse inconnue</translation>
    </message>
    <message>
        <source>an unknown workstation</source>
        <translation>un poste de travail inconnu</translation>
    </message>
    <message>
        <source>Hello {name},</source>
        <translation>Bonjour {name},</translation>
    </message>
    <message>
        <source>Hello,</source>
        <translation>Bonjour,</translation>
    </message>
    <message>
        <source>Your pmdesk security code is:</source>
        <translation>Votre code de sécurité pmdesk est :</translation>
    </message>
    <message>
        <source>It is valid for {minutes} and can be used only once.
It was requested from the address {address} on the workstation {workstation}.</source>
        <translation>Il est valable {minutes} et ne peut être utilisé qu&apos;une seule fois.
Il a été demandé depuis l&apos;adresse {address} sur le poste de travail {workstation}.</translation>
    </message>
    <message>
        <source>If this was not you:
  - do not share this code with anyone, not even someone who says they are
    from IT support: nobody will ever ask you for it;
  - tell your administrator;
  - change your password.</source>
        <translation>Si ce n&apos;était pas vous :
  - ne communiquez ce code à personne, pas même à quelqu&apos;un qui se dit
    du support informatique : personne ne vous le demandera jamais ;
  - prévenez votre administrateur ;
  - changez votre mot de passe.</translation>
    </message>
    <message>
        <source>Example code (a test: it signs nobody in):</source>
        <translation>Code d&apos;exemple (un test : il ne connecte personne) :</translation>
    </message>
    <message>
        <source>THIS IS A TEST. An administrator sent this message from pmdesk to check that
security codes reach you. You do not need to do anything.</source>
        <translation>CECI EST UN TEST. Un administrateur vous a envoyé ce message depuis pmdesk pour
vérifier que les codes de sécurité vous parviennent. Vous n&apos;avez rien à faire.</translation>
    </message>
    <message>
        <source>Real security codes come in a message like this one when someone signs in
from an address that is not trusted.
This test was sent from the address {address} on the workstation {workstation}.</source>
        <translation>Les vrais codes de sécurité arrivent dans un message comme celui-ci lorsque quelqu&apos;un
se connecte depuis une adresse qui n&apos;est pas de confiance.
Ce test a été envoyé depuis l&apos;adresse {address} sur le poste de travail {workstation}.</translation>
    </message>
    <message>
        <source>Never share a real code with anyone, not even someone who says they are
from IT support: nobody will ever ask you for it.</source>
        <translation>Ne communiquez jamais un vrai code à personne, pas même à quelqu&apos;un qui se dit
du support informatique : personne ne vous le demandera jamais.</translation>
    </message>
    <message>
        <source>Address:</source>
        <translation>Adresse :</translation>
    </message>
    <message>
        <source>When:</source>
        <translation>Quand :</translation>
    </message>
    <message>
        <source>Workstation:</source>
        <translation>Poste de travail :</translation>
    </message>
    <message>
        <source>local time</source>
        <translation>heure locale</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>inconnu</translation>
    </message>
    <message>
        <source>The address {address} was trusted for the pmdesk login {login}:
signing in from there no longer asks for a security code.</source>
        <translation>L&apos;adresse {address} est désormais de confiance pour l&apos;identifiant pmdesk {login} :
une connexion depuis cette adresse ne demande plus de code de sécurité.</translation>
    </message>
    <message>
        <source>This address is outside the office networks.</source>
        <translation>Cette adresse se trouve en dehors des réseaux du bureau.</translation>
    </message>
    <message>
        <source>Not you? Call the helpdesk (reference #{reference}).</source>
        <translation>Ce n&apos;était pas vous ? Appelez le helpdesk (référence #{reference}).</translation>
    </message>
    <message>
        <source>TEST - pmdesk security code: {code} (an example: it signs nobody in). Codes reach this phone. Sent from {address} ({workstation}).</source>
        <translation>TEST - code de sécurité pmdesk : {code} (un exemple : il ne connecte personne). Les codes parviennent à ce GSM. Envoyé depuis {address} ({workstation}).</translation>
    </message>
    <message>
        <source>TEST - pmdesk security code. Codes reach this phone. Sent from {address} ({workstation}).</source>
        <translation>TEST - code de sécurité pmdesk. Les codes parviennent à ce GSM. Envoyé depuis {address} ({workstation}).</translation>
    </message>
    <message>
        <source>pmdesk security code: {code}. Valid {minutes}, once. Asked from {address} ({workstation}). Not you? Do not share it, tell your administrator and change your password.</source>
        <translation>Code de sécurité pmdesk : {code}. Valable {minutes}, une seule fois. Demandé depuis {address} ({workstation}). Pas vous ? Ne le communiquez pas, prévenez votre administrateur et changez votre mot de passe.</translation>
    </message>
    <message>
        <source>unknown workstation</source>
        <translation>poste de travail inconnu</translation>
    </message>
</context>
<context>
    <name>migrate</name>
    <message>
        <source>This database was upgraded by a newer pmdesk (schema {schema}). Install the newer pmdesk on this workstation; this version cannot use it safely.</source>
        <translation>Cette base de données a été mise à niveau par une version plus récente de pmdesk (schéma {schema}). Installez la nouvelle version de pmdesk sur ce poste de travail ; cette version-ci ne peut pas l&apos;utiliser en toute sécurité.</translation>
    </message>
    <message>
        <source>Another workstation is upgrading the database; try again.</source>
        <translation>Un autre poste de travail est en train de mettre à niveau la base de données ; réessayez.</translation>
    </message>
</context>
<context>
    <name>modules</name>
    <message>
        <source>Job</source>
        <translation>Ordre de travail</translation>
    </message>
    <message>
        <source>Invoicing</source>
        <translation>Facturation</translation>
    </message>
    <message>
        <source>Workshop</source>
        <translation>Atelier</translation>
    </message>
    <message>
        <source>Maintenance</source>
        <translation>Maintenance</translation>
    </message>
    <message>
        <source>Planning</source>
        <translation>Planning</translation>
    </message>
    <message>
        <source>Car Fleet</source>
        <translation>Parc automobile</translation>
    </message>
    <message>
        <source>Report</source>
        <translation>Rapport</translation>
    </message>
    <message>
        <source>System</source>
        <translation>Système</translation>
    </message>
    <message>
        <source>System → Custom Fields</source>
        <translation>Système → Champs personnalisés</translation>
    </message>
    <message>
        <source>System → Log</source>
        <translation>Système → Journal</translation>
    </message>
    <message>
        <source>System → Shortcut</source>
        <translation>Système → Raccourci</translation>
    </message>
    <message>
        <source>System → Vault</source>
        <translation>Système → Coffre-fort</translation>
    </message>
    <message>
        <source>System → Security</source>
        <translation>Système → Sécurité</translation>
    </message>
</context>
<context>
    <name>office_networks</name>
    <message>
        <source>Outside office networks</source>
        <extracomment>What a new database starts with (set at first run; an upgraded one keeps ``anywhere``). The network column of an address in no office network.</extracomment>
        <translation>Hors des réseaux du bureau</translation>
    </message>
    <message>
        <source>Trusting this address is not allowed: it is outside the office networks.</source>
        <translation>Il n&apos;est pas permis de faire confiance à cette adresse : elle se trouve hors des réseaux du bureau.</translation>
    </message>
    <message>
        <source>Trusting this address is not allowed: trusting addresses is switched off.</source>
        <translation>Il n&apos;est pas permis de faire confiance à cette adresse : la confiance accordée aux adresses est désactivée.</translation>
    </message>
    <message>
        <source>The trust policy is one of: {choices}.</source>
        <translation>La politique de confiance est l&apos;une des suivantes : {choices}.</translation>
    </message>
    <message>
        <source>1 address stops being trusted, 1 person affected</source>
        <translation>1 adresse n&apos;est plus de confiance, 1 personne concernée</translation>
    </message>
    <message>
        <source>1 address stops being trusted, {people} people affected</source>
        <translation>1 adresse n&apos;est plus de confiance, {people} personnes concernées</translation>
    </message>
    <message>
        <source>{addresses} addresses stop being trusted, 1 person affected</source>
        <translation>{addresses} adresses ne sont plus de confiance, 1 personne concernée</translation>
    </message>
    <message>
        <source>{addresses} addresses stop being trusted, {people} people affected</source>
        <translation>{addresses} adresses ne sont plus de confiance, {people} personnes concernées</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <source>{network} is listed twice.</source>
        <translation>{network} figure deux fois dans la liste.</translation>
    </message>
    <message>
        <source>Give at least one range, such as 10.1.0.0/16.</source>
        <translation>Indiquez au moins une plage, par exemple 10.1.0.0/16.</translation>
    </message>
    <message>
        <source>The ranges can have at most {count} characters.</source>
        <translation>Les plages peuvent compter au maximum {count} caractères.</translation>
    </message>
    <message>
        <source>An office network named &apos;{name}&apos; exists.</source>
        <translation>Un réseau du bureau nommé « {name} » existe déjà.</translation>
    </message>
    <message>
        <source>There is no office network named &apos;{name}&apos;.</source>
        <translation>Il n&apos;y a pas de réseau du bureau nommé « {name} ».</translation>
    </message>
</context>
<context>
    <name>passwords</name>
    <message>
        <source>The password must have at least {count} characters.</source>
        <translation>Le mot de passe doit compter au moins {count} caractères.</translation>
    </message>
    <message>
        <source>The password must have at most {count} characters.</source>
        <translation>Le mot de passe peut compter au maximum {count} caractères.</translation>
    </message>
    <message>
        <source>The password cannot contain a NUL character.</source>
        <translation>Le mot de passe ne peut pas contenir de caractère NUL.</translation>
    </message>
    <message>
        <source>The password contains bytes that are not valid text (check the input encoding).</source>
        <translation>Le mot de passe contient des octets qui ne forment pas un texte valide (vérifiez l&apos;encodage de la saisie).</translation>
    </message>
    <message>
        <source>The passwords do not match.</source>
        <translation>Les mots de passe ne correspondent pas.</translation>
    </message>
</context>
<context>
    <name>permissions</name>
    <message>
        <source>Read</source>
        <extracomment>A right as the refusals name it (the grid&apos;s column titles).</extracomment>
        <translation>Consulter</translation>
    </message>
    <message>
        <source>Edit</source>
        <translation>Modifier</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Supprimer</translation>
    </message>
    <message>
        <source>Your user group may not see {module}. Ask an administrator to grant {module} {right} in System → Permissions.</source>
        <translation>Votre groupe d&apos;utilisateurs ne peut pas consulter {module}. Demandez à un administrateur d&apos;accorder {module} {right} dans Système → Autorisations.</translation>
    </message>
    <message>
        <source>Your user group may not change {module}. Ask an administrator to grant {module} {right} in System → Permissions.</source>
        <translation>Votre groupe d&apos;utilisateurs ne peut pas modifier {module}. Demandez à un administrateur d&apos;accorder {module} {right} dans Système → Autorisations.</translation>
    </message>
    <message>
        <source>Your user group may not delete in {module}. Ask an administrator to grant {module} {right} in System → Permissions.</source>
        <translation>Votre groupe d&apos;utilisateurs ne peut rien supprimer dans {module}. Demandez à un administrateur d&apos;accorder {module} {right} dans Système → Autorisations.</translation>
    </message>
    <message>
        <source>Permissions (System)</source>
        <extracomment>The modules somebody must keep administering (Read and Edit), as the refusal names them: System → Security, and System, whose Permissions screen gives every right.</extracomment>
        <translation>Autorisations (Système)</translation>
    </message>
    <message>
        <source>This change would leave nobody able to administer {modules}. At least one person with a login and password must keep Read and Edit there; give another person that right first, then try again.</source>
        <extracomment>LastAdministratorError&apos;s sentence, ``{}`` standing for the modules left without anyone (the server&apos;s check says the same words: pmdesk/core/server/rules_sql.py).</extracomment>
        <translation>Après cette modification, plus personne ne pourrait administrer {modules}. Au moins une personne disposant d&apos;un identifiant et d&apos;un mot de passe doit y garder Consulter et Modifier ; accordez d&apos;abord ce droit à une autre personne, puis réessayez.</translation>
    </message>
    <message>
        <source>{one} and {other}</source>
        <translation>{one} et {other}</translation>
    </message>
    <message>
        <source>{module} {right}</source>
        <translation>{module} {right}</translation>
    </message>
    <message>
        <source>{rights} and {count} more</source>
        <translation>{rights} et {count} autres</translation>
    </message>
    <message>
        <source>You cannot {doing}: that user group has rights your own group lacks ({rights}). Ask an administrator who has them.</source>
        <translation>Vous ne pouvez pas {doing} : ce groupe d&apos;utilisateurs a des droits que votre propre groupe n&apos;a pas ({rights}). Adressez-vous à un administrateur qui les possède.</translation>
    </message>
</context>
<context>
    <name>personnel</name>
    <message>
        <source>Lastname</source>
        <extracomment>The form&apos;s free-text fields: (field, its name in messages, its longest length).</extracomment>
        <translation>Nom</translation>
    </message>
    <message>
        <source>Forename</source>
        <translation>Prénom</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>Numéro</translation>
    </message>
    <message>
        <source>Street</source>
        <translation>Rue</translation>
    </message>
    <message>
        <source>Postcode</source>
        <translation>Code postal</translation>
    </message>
    <message>
        <source>City</source>
        <translation>Localité</translation>
    </message>
    <message>
        <source>Country</source>
        <translation>Pays</translation>
    </message>
    <message>
        <source>Phone</source>
        <translation>Téléphone</translation>
    </message>
    <message>
        <source>Mobile</source>
        <translation>GSM</translation>
    </message>
    <message>
        <source>Enter a last name or a forename.</source>
        <translation>Indiquez un nom ou un prénom.</translation>
    </message>
    <message>
        <source>The passwords do not match.</source>
        <translation>Les mots de passe ne correspondent pas.</translation>
    </message>
    <message>
        <source>A new login needs a password.</source>
        <translation>Un nouvel identifiant nécessite un mot de passe.</translation>
    </message>
    <message>
        <source>Enter an e-mail address to use it for mail.</source>
        <translation>Indiquez une adresse e-mail pour l&apos;utiliser pour les envois.</translation>
    </message>
    <message>
        <source>give a new person that user group</source>
        <translation>attribuer ce groupe d&apos;utilisateurs à une nouvelle personne</translation>
    </message>
    <message>
        <source>An administrator was created meanwhile (perhaps on another workstation). Sign in with that account.</source>
        <translation>Un administrateur a été créé entre-temps (peut-être sur un autre poste de travail). Connectez-vous avec ce compte.</translation>
    </message>
    <message>
        <source>change this person</source>
        <translation>modifier cette personne</translation>
    </message>
    <message>
        <source>move this person to that user group</source>
        <translation>déplacer cette personne vers ce groupe d&apos;utilisateurs</translation>
    </message>
    <message>
        <source>Another workstation saved this person at the same moment. Reload and try again.</source>
        <translation>Un autre poste de travail a enregistré cette personne au même moment. Rechargez et réessayez.</translation>
    </message>
    <message>
        <source>You cannot delete your own account.</source>
        <translation>Vous ne pouvez pas supprimer votre propre compte.</translation>
    </message>
    <message>
        <source>delete this person</source>
        <translation>supprimer cette personne</translation>
    </message>
    <message>
        <source>set this person&apos;s password</source>
        <translation>définir le mot de passe de cette personne</translation>
    </message>
    <message>
        <source>That user group no longer exists; choose another.</source>
        <translation>Ce groupe d&apos;utilisateurs n&apos;existe plus ; choisissez-en un autre.</translation>
    </message>
    <message>
        <source>That location no longer exists; choose another.</source>
        <translation>Ce site n&apos;existe plus ; choisissez-en un autre.</translation>
    </message>
    <message>
        <source>That language no longer exists; choose another.</source>
        <translation>Cette langue n&apos;existe plus ; choisissez-en une autre.</translation>
    </message>
    <message>
        <source>That team no longer exists; choose another.</source>
        <translation>Cette équipe n&apos;existe plus ; choisissez-en une autre.</translation>
    </message>
    <message>
        <source>A person with a login needs a user group.</source>
        <translation>Une personne disposant d&apos;un identifiant doit appartenir à un groupe d&apos;utilisateurs.</translation>
    </message>
    <message>
        <source>This login is already taken.</source>
        <translation>Cet identifiant est déjà utilisé.</translation>
    </message>
    <message>
        <source>This person no longer exists (another workstation deleted it).</source>
        <translation>Cette personne n&apos;existe plus (un autre poste de travail l&apos;a supprimée).</translation>
    </message>
    <message>
        <source>{person} was changed on another workstation since you opened it. Your changes are still in the form; compare them with the current values and save again.</source>
        <translation>{person} a été modifié sur un autre poste de travail depuis que vous avez ouvert la fiche. Vos modifications sont toujours dans le formulaire ; comparez-les avec les valeurs actuelles et enregistrez à nouveau.</translation>
    </message>
</context>
<context>
    <name>security</name>
    <message>
        <source>1 person could not receive a security code and would be shut out ({names}). Give them a usable address first, or confirm to turn two-step authentication on anyway.</source>
        <translation>1 personne ne pourrait pas recevoir de code de sécurité et serait exclue ({names}). Indiquez d&apos;abord une adresse utilisable, ou confirmez pour activer quand même la connexion en deux étapes.</translation>
    </message>
    <message>
        <source>{count} people could not receive a security code and would be shut out ({names}). Give them a usable address first, or confirm to turn two-step authentication on anyway.</source>
        <translation>{count} personnes ne pourraient pas recevoir de code de sécurité et seraient exclues ({names}). Indiquez-leur d&apos;abord une adresse utilisable, ou confirmez pour activer quand même la connexion en deux étapes.</translation>
    </message>
    <message>
        <source>Not usable yet: {problem}</source>
        <translation>Pas encore utilisable : {problem}</translation>
    </message>
    <message>
        <source>no valid mobile or phone number</source>
        <translation>pas de numéro de GSM ou de téléphone valide</translation>
    </message>
    <message>
        <source>no phone number</source>
        <translation>pas de numéro de téléphone</translation>
    </message>
    <message>
        <source>no e-mail address</source>
        <translation>pas d&apos;adresse e-mail</translation>
    </message>
    <message>
        <source>the e-mail address is not valid</source>
        <translation>l&apos;adresse e-mail n&apos;est pas valide</translation>
    </message>
    <message>
        <source>List the never-trusted addresses as text, such as 10.0.0.5.</source>
        <extracomment>The helpdesk mailbox&apos;s column (a longer text is refused with a message, never cut).</extracomment>
        <translation>Indiquez les adresses jamais de confiance sous forme de texte, par exemple 10.0.0.5.</translation>
    </message>
    <message>
        <source>Never trust: {problem}</source>
        <translation>Ne jamais faire confiance : {problem}</translation>
    </message>
    <message>
        <source>Never trust: the list can have at most {count} characters; use networks (10.1.0.0/24) instead of single addresses.</source>
        <translation>Ne jamais faire confiance : la liste peut compter au maximum {count} caractères ; utilisez des réseaux (10.1.0.0/24) plutôt que des adresses isolées.</translation>
    </message>
    <message>
        <source>The SMTP port</source>
        <translation>Le port SMTP</translation>
    </message>
    <message>
        <source>ports</source>
        <translation>numéro de port</translation>
    </message>
    <message>
        <source>Trust an address for</source>
        <translation>Faire confiance à une adresse pendant</translation>
    </message>
    <message>
        <source>days</source>
        <translation>jours</translation>
    </message>
    <message>
        <source>minutes</source>
        <translation>minutes</translation>
    </message>
    <message>
        <source>{label} must be a whole number of {unit} from {low} to {high}.</source>
        <translation>{label} : indiquez un nombre entier ({unit}) de {low} à {high}.</translation>
    </message>
    <message>
        <source>Choose how codes are delivered: outbox folder, e-mail (SMTP, Microsoft 365, Google Workspace, Microsoft Graph) or text message (SMS gateway, Twilio, Vonage, CM.com).</source>
        <translation>Choisissez comment les codes sont envoyés : dossier d&apos;envoi, e-mail (SMTP, Microsoft 365, Google Workspace, Microsoft Graph) ou SMS (passerelle SMS, Twilio, Vonage, CM.com).</translation>
    </message>
    <message>
        <source>Choose STARTTLS or TLS for the mail server.</source>
        <translation>Choisissez STARTTLS ou TLS pour le serveur de messagerie.</translation>
    </message>
    <message>
        <source>Mail without encryption is only allowed to a relay on this machine (localhost); choose STARTTLS or TLS.</source>
        <translation>Les e-mails non chiffrés ne sont autorisés que vers un relais sur cet ordinateur (localhost) ; choisissez STARTTLS ou TLS.</translation>
    </message>
    <message>
        <source>The SMTP user name</source>
        <translation>Le nom d&apos;utilisateur SMTP</translation>
    </message>
    <message>
        <source>The application (client) ID</source>
        <translation>L&apos;ID d&apos;application (client)</translation>
    </message>
    <message>
        <source>Choose a client secret or a certificate for the app.</source>
        <translation>Choisissez un secret client ou un certificat pour l&apos;application.</translation>
    </message>
    <message>
        <source>The phone region &apos;{region}&apos; is not a country code such as BE or NL.</source>
        <translation>La région téléphonique « {region} » n&apos;est pas un code de pays tel que BE ou FR.</translation>
    </message>
    <message>
        <source>Enter the application (client) ID.</source>
        <translation>Indiquez l&apos;ID d&apos;application (client).</translation>
    </message>
    <message>
        <source>{label} is a GUID such as 00000000-0000-0000-0000-000000000000 (Entra admin center → App registrations → your app → Overview).</source>
        <translation>{label} est un GUID tel que 00000000-0000-0000-0000-000000000000 (centre d&apos;administration Entra → Inscriptions d&apos;applications → votre application → Vue d&apos;ensemble).</translation>
    </message>
    <message>
        <source>Enter the directory (tenant) ID.</source>
        <translation>Indiquez l&apos;ID de l&apos;annuaire (locataire).</translation>
    </message>
    <message>
        <source>The directory (tenant) ID is a GUID (Entra admin center → Overview → Tenant ID) or a domain of the tenant such as contoso.onmicrosoft.com.</source>
        <translation>L&apos;ID de l&apos;annuaire (locataire) est un GUID (centre d&apos;administration Entra → Vue d&apos;ensemble → ID de locataire) ou un domaine du locataire, par exemple contoso.onmicrosoft.com.</translation>
    </message>
    <message>
        <source>Enter the certificate&apos;s thumbprint.</source>
        <translation>Indiquez l&apos;empreinte du certificat.</translation>
    </message>
    <message>
        <source>The certificate thumbprint is 40 hexadecimal characters (Entra admin center → App registrations → your app → Certificates &amp; secrets → Thumbprint).</source>
        <translation>L&apos;empreinte du certificat compte 40 caractères hexadécimaux (centre d&apos;administration Entra → Inscriptions d&apos;applications → votre application → Certificats &amp; secrets → Empreinte numérique).</translation>
    </message>
    <message>
        <source>Store the service account&apos;s JSON key (it names the account).</source>
        <translation>Enregistrez la clé JSON du compte de service (elle indique le compte).</translation>
    </message>
    <message>
        <source>The service account: {problem}</source>
        <translation>Le compte de service : {problem}</translation>
    </message>
    <message>
        <source>Enter the Twilio Account SID (Twilio Console → Account Info).</source>
        <translation>Indiquez l&apos;Account SID Twilio (Twilio Console → Account Info).</translation>
    </message>
    <message>
        <source>The Twilio Account SID is AC followed by 32 hexadecimal characters.</source>
        <translation>L&apos;Account SID Twilio se compose de AC suivi de 32 caractères hexadécimaux.</translation>
    </message>
    <message>
        <source>Enter the Vonage API key (Vonage API Dashboard → API settings).</source>
        <translation>Indiquez la clé API Vonage (Vonage API Dashboard → API settings).</translation>
    </message>
    <message>
        <source>The Vonage API key is a short code of letters and digits.</source>
        <translation>La clé API Vonage est un code court composé de lettres et de chiffres.</translation>
    </message>
    <message>
        <source>The SMS account</source>
        <translation>Le compte SMS</translation>
    </message>
    <message>
        <source>Enter the sender of text messages: a number such as +32470123456 or a sender name of up to 11 letters and digits.</source>
        <translation>Indiquez l&apos;expéditeur des SMS : un numéro tel que +32470123456 ou un nom d&apos;expéditeur de 11 lettres et chiffres au maximum.</translation>
    </message>
    <message>
        <source>The sender</source>
        <translation>L&apos;expéditeur</translation>
    </message>
    <message>
        <source>The outbox folder</source>
        <translation>Le dossier d&apos;envoi</translation>
    </message>
    <message>
        <source>The outbox folder must be a full path, such as C:\pmdesk\outbox.</source>
        <translation>Le dossier d&apos;envoi doit être un chemin complet, par exemple C:\pmdesk\outbox.</translation>
    </message>
    <message>
        <source>Enter the mail server (SMTP host).</source>
        <translation>Indiquez le serveur de messagerie (hôte SMTP).</translation>
    </message>
    <message>
        <source>&apos;{host}&apos; is not a valid server name.</source>
        <translation>« {host} » n&apos;est pas un nom de serveur valide.</translation>
    </message>
    <message>
        <source>Enter the sender address (From) for code mails.</source>
        <translation>Indiquez l&apos;adresse de l&apos;expéditeur (De) des e-mails de code.</translation>
    </message>
    <message>
        <source>The sender address</source>
        <translation>L&apos;adresse de l&apos;expéditeur</translation>
    </message>
    <message>
        <source>The sender name</source>
        <translation>Le nom de l&apos;expéditeur</translation>
    </message>
    <message>
        <source>The helpdesk mailbox</source>
        <translation>La boîte aux lettres du helpdesk</translation>
    </message>
    <message>
        <source>The helpdesk name</source>
        <translation>Le nom du helpdesk</translation>
    </message>
    <message>
        <source>{label} must be on one line.</source>
        <translation>{label} doit tenir sur une seule ligne.</translation>
    </message>
    <message>
        <source>{label}: enter one e-mail address only.</source>
        <translation>{label} : indiquez une seule adresse e-mail.</translation>
    </message>
    <message>
        <source>{label}: &apos;{address}&apos; is not a valid e-mail address.</source>
        <translation>{label} : « {address} » n&apos;est pas une adresse e-mail valide.</translation>
    </message>
    <message>
        <source>{label}: {problem}</source>
        <translation>{label} : {problem}</translation>
    </message>
    <message>
        <source>{label} can have at most {count} characters.</source>
        <translation>{label} : {count} caractères au maximum.</translation>
    </message>
    <message>
        <source>Enter the SMS gateway URL (https://…).</source>
        <translation>Indiquez l&apos;URL de la passerelle SMS (https://…).</translation>
    </message>
    <message>
        <source>The SMS gateway URL must be one line of at most 500 characters.</source>
        <translation>L&apos;URL de la passerelle SMS doit tenir sur une ligne de 500 caractères au maximum.</translation>
    </message>
    <message>
        <source>The SMS gateway URL is not a valid URL.</source>
        <translation>L&apos;URL de la passerelle SMS n&apos;est pas une URL valide.</translation>
    </message>
    <message>
        <source>The SMS gateway URL needs a server name (https://host/…).</source>
        <translation>L&apos;URL de la passerelle SMS doit contenir un nom de serveur (https://hôte/…).</translation>
    </message>
    <message>
        <source>Do not put a user name or password in the SMS gateway URL: the password belongs in the keyring.</source>
        <translation>Ne mettez ni nom d&apos;utilisateur ni mot de passe dans l&apos;URL de la passerelle SMS : le mot de passe se range dans le trousseau.</translation>
    </message>
    <message>
        <source>The SMS gateway must use https:// (http:// only to this machine).</source>
        <translation>La passerelle SMS doit utiliser https:// (http:// uniquement vers cet ordinateur).</translation>
    </message>
    <message>
        <source>The SMS gateway URL must start with https://.</source>
        <translation>L&apos;URL de la passerelle SMS doit commencer par https://.</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not a valid phone number.</source>
        <translation>« {address} » n&apos;est pas un numéro de téléphone valide.</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not a valid e-mail address.</source>
        <translation>« {address} » n&apos;est pas une adresse e-mail valide.</translation>
    </message>
    <message>
        <source>queued to the relay, which sends it: {how}; the Log shows mail.test_sent once it has gone</source>
        <translation>placé dans la file du relais, qui l&apos;envoie : {how} ; le Journal affiche mail.test_sent une fois l&apos;envoi effectué</translation>
    </message>
    <message>
        <source>A code is valid for</source>
        <translation>Un code est valable pendant</translation>
    </message>
    <message>
        <source>The length of a command-line session</source>
        <translation>La durée d&apos;une session en ligne de commande</translation>
    </message>
    <message>
        <source>hours</source>
        <translation>heures</translation>
    </message>
    <message>
        <source>Failures before a lock</source>
        <translation>Échecs de connexion avant un blocage</translation>
    </message>
    <message>
        <source>The first lock</source>
        <translation>Le premier blocage</translation>
    </message>
    <message>
        <source>failures</source>
        <translation>échecs</translation>
    </message>
    <message>
        <source>The longest lock</source>
        <translation>Le blocage le plus long</translation>
    </message>
    <message>
        <source>The longest lock ({longest} min) cannot be shorter than the first ({first} min).</source>
        <translation>Le blocage le plus long ({longest} min) ne peut pas être plus court que le premier ({first} min).</translation>
    </message>
    <message>
        <source>The security settings were changed on another workstation since you opened them. Reload to see the current values, then make your change again.</source>
        <translation>Les paramètres de sécurité ont été modifiés sur un autre poste de travail depuis que vous les avez ouverts. Rechargez pour voir les valeurs actuelles, puis refaites votre modification.</translation>
    </message>
</context>
<context>
    <name>server</name>
    <message>
        <source>Your user group may not {doing}.</source>
        <extracomment>Sentences only a hardened server says (pmdesk/core/server/*_sql.py), marked here so that they are in the catalogue: its refusals to write (``refuse_write``) and checks of its own.</extracomment>
        <translation>Votre groupe d&apos;utilisateurs ne peut pas {doing}.</translation>
    </message>
    <message>
        <source>add this person</source>
        <translation>ajouter cette personne</translation>
    </message>
    <message>
        <source>change System → Security</source>
        <translation>modifier Système → Sécurité</translation>
    </message>
    <message>
        <source>change sign-in counters</source>
        <translation>modifier les compteurs de connexion</translation>
    </message>
    <message>
        <source>change the log</source>
        <translation>modifier le journal</translation>
    </message>
    <message>
        <source>change the office networks</source>
        <translation>modifier les réseaux du bureau</translation>
    </message>
    <message>
        <source>change this person</source>
        <translation>modifier cette personne</translation>
    </message>
    <message>
        <source>change user groups or their rights</source>
        <translation>modifier les groupes d&apos;utilisateurs ou leurs droits</translation>
    </message>
    <message>
        <source>delete this person</source>
        <translation>supprimer cette personne</translation>
    </message>
    <message>
        <source>put back the trusted addresses of this person</source>
        <translation>rétablir les adresses de confiance de cette personne</translation>
    </message>
    <message>
        <source>put back trusted addresses</source>
        <translation>rétablir des adresses de confiance</translation>
    </message>
    <message>
        <source>record deliveries</source>
        <translation>enregistrer des envois</translation>
    </message>
    <message>
        <source>remove this trusted address</source>
        <translation>retirer cette adresse de confiance</translation>
    </message>
    <message>
        <source>trust an address for this person</source>
        <translation>faire confiance à une adresse pour cette personne</translation>
    </message>
    <message>
        <source>Your user group may not read System → Security.</source>
        <translation>Votre groupe d&apos;utilisateurs ne peut pas consulter Système → Sécurité.</translation>
    </message>
    <message>
        <source>Your user group may not issue or cancel helpdesk codes.</source>
        <translation>Votre groupe d&apos;utilisateurs ne peut pas émettre ni annuler de codes helpdesk.</translation>
    </message>
    <message>
        <source>The helpdesk mailbox must be one e-mail address.</source>
        <translation>La boîte aux lettres du helpdesk doit être une seule adresse e-mail.</translation>
    </message>
    <message>
        <source>The reason can have at most {count} characters, and no control characters.</source>
        <translation>Le motif peut compter au maximum {count} caractères, sans caractères de contrôle.</translation>
    </message>
</context>
<context>
    <name>sessions</name>
    <message>
        <source>Desktop app</source>
        <translation>Application de bureau</translation>
    </message>
    <message>
        <source>Command line</source>
        <translation>Ligne de commande</translation>
    </message>
    <message>
        <source>You are not signed in.</source>
        <translation>Vous n&apos;êtes pas connecté.</translation>
    </message>
    <message>
        <source>Your session was ended (signed out, or ended by an administrator).</source>
        <translation>Votre session a pris fin (déconnexion, ou fin imposée par un administrateur).</translation>
    </message>
    <message>
        <source>Your session has expired.</source>
        <translation>Votre session a expiré.</translation>
    </message>
    <message>
        <source>Your session was started from another address.</source>
        <translation>Votre session a été ouverte depuis une autre adresse.</translation>
    </message>
    <message>
        <source>Your account is locked.</source>
        <translation>Votre compte est bloqué.</translation>
    </message>
    <message>
        <source>Your account no longer exists or can no longer sign in.</source>
        <translation>Votre compte n&apos;existe plus ou ne peut plus se connecter.</translation>
    </message>
    <message>
        <source>Your password was changed since you signed in.</source>
        <translation>Votre mot de passe a été modifié depuis votre connexion.</translation>
    </message>
    <message>
        <source>This person no longer exists.</source>
        <translation>Cette personne n&apos;existe plus.</translation>
    </message>
    <message>
        <source>end this person&apos;s sessions</source>
        <translation>mettre fin aux sessions de cette personne</translation>
    </message>
</context>
<context>
    <name>startup</name>
    <message>
        <source>This database needs a newer pmdesk</source>
        <translation>Cette base de données demande un pmdesk plus récent</translation>
    </message>
    <message>
        <source>Nothing was changed. Install the newest pmdesk on this workstation (ask whoever upgraded the other workstations), then start it again.</source>
        <translation>Rien n&apos;a été modifié. Installez le pmdesk le plus récent sur ce poste de travail (demandez-le à la personne qui a mis à jour les autres postes), puis relancez-le.</translation>
    </message>
    <message>
        <source>No system keyring</source>
        <translation>Pas de trousseau système</translation>
    </message>
    <message>
        <source>pmdesk needs the system keyring to read the database password.</source>
        <translation>pmdesk a besoin du trousseau du système pour lire le mot de passe de la base de données.</translation>
    </message>
    <message>
        <source>Install or unlock the system keyring (Windows Credential Manager, macOS Keychain, or GNOME Keyring / KWallet on Linux), then start pmdesk again.</source>
        <translation>Installez ou déverrouillez le trousseau du système (Gestionnaire d&apos;identification Windows, Trousseau d&apos;accès macOS, ou GNOME Keyring / KWallet sous Linux), puis relancez pmdesk.</translation>
    </message>
    <message>
        <source>Cannot open the database</source>
        <translation>Impossible d&apos;ouvrir la base de données</translation>
    </message>
    <message>
        <source>Check that the database server is running and reachable from this workstation (network, VPN, firewall), and that the database address is right: it comes from PMDESK_DATABASE_URL or the settings file {path}. Then start pmdesk again.</source>
        <translation>Vérifiez que le serveur de base de données fonctionne et est joignable depuis ce poste de travail (réseau, VPN, pare-feu), et que l&apos;adresse de la base de données est correcte : elle provient de PMDESK_DATABASE_URL ou du fichier de paramètres {path}. Relancez ensuite pmdesk.</translation>
    </message>
    <message>
        <source>The database address is not valid</source>
        <translation>L&apos;adresse de la base de données n&apos;est pas valide</translation>
    </message>
    <message>
        <source>Correct it in PMDESK_DATABASE_URL or the settings file {path}.</source>
        <translation>Corrigez-la dans PMDESK_DATABASE_URL ou dans le fichier de paramètres {path}.</translation>
    </message>
    <message>
        <source>The settings file cannot be read</source>
        <translation>Le fichier de paramètres est illisible</translation>
    </message>
    <message>
        <source>Correct or remove the file, then start pmdesk again.</source>
        <translation>Corrigez ou supprimez le fichier, puis relancez pmdesk.</translation>
    </message>
    <message>
        <source>pmdesk could not start</source>
        <translation>pmdesk n&apos;a pas pu démarrer</translation>
    </message>
    <message>
        <source>The details were written to the log file {path}. Send it to your support contact.</source>
        <translation>Les détails ont été écrits dans le fichier journal {path}. Envoyez-le à votre contact d&apos;assistance.</translation>
    </message>
</context>
<context>
    <name>trusted_ip_review</name>
    <message>
        <source>Public address</source>
        <extracomment>A trust younger than this is not &quot;never used&quot; yet.</extracomment>
        <translation>Adresse publique</translation>
    </message>
    <message>
        <source>Never used</source>
        <translation>Jamais utilisée</translation>
    </message>
    <message>
        <source>Shared by {count} people</source>
        <translation>Partagée par {count} personnes</translation>
    </message>
</context>
<context>
    <name>trusted_ips</name>
    <message>
        <source>Viewing items {first}-{last} of {total}</source>
        <extracomment>How long a removal from the list can be undone (``TrustedIpService.restore``). Set for its own transaction by ``remove`` on a server-enforced PostgreSQL: the server then keeps what was removed for Undo (server/review_sql.py).</extracomment>
        <translation>Éléments {first}-{last} sur {total}</translation>
    </message>
    <message>
        <source>Viewing items {first}-{last} of more than {total}</source>
        <translation>Éléments {first}-{last} sur plus de {total}</translation>
    </message>
    <message>
        <source>The database server cannot see this workstation&apos;s address (a local socket connection, the same for everyone connecting that way), so it is never trusted.</source>
        <translation>Le serveur de base de données ne voit pas l&apos;adresse de ce poste de travail (une connexion par socket locale, la même pour tous ceux qui se connectent ainsi) : elle n&apos;est donc jamais de confiance.</translation>
    </message>
    <message>
        <source>This workstation&apos;s address is unknown, so it cannot be trusted.</source>
        <translation>L&apos;adresse de ce poste de travail est inconnue : elle ne peut donc pas être de confiance.</translation>
    </message>
    <message>
        <source>{address} is on the list of addresses never trusted (a proxy or connection pooler, System → Security), so it is never trusted.</source>
        <translation>{address} figure dans la liste des adresses jamais de confiance (un proxy ou un pool de connexions, Système → Sécurité) : elle n&apos;est donc jamais de confiance.</translation>
    </message>
    <message>
        <source>{address} is a loopback address, shared by everyone who reaches the database through this computer (localhost, an SSH tunnel or a connection pooler), so it is never trusted on a shared database.</source>
        <translation>{address} est une adresse de bouclage, partagée par tous ceux qui joignent la base de données via cet ordinateur (localhost, un tunnel SSH ou un pool de connexions) : elle n&apos;est donc jamais de confiance sur une base de données partagée.</translation>
    </message>
    <message>
        <source>{address} is a link-local address, not unique to this workstation, so it is never trusted on a shared database.</source>
        <translation>{address} est une adresse de lien local, qui n&apos;est pas propre à ce poste de travail : elle n&apos;est donc jamais de confiance sur une base de données partagée.</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not an IP address (192.0.2.10).</source>
        <extracomment>A removed row as DELETE … RETURNING gives it: id, person, address, created, last used, and who trusted it on which workstation.</extracomment>
        <translation>« {address} » n&apos;est pas une adresse IP (192.0.2.10).</translation>
    </message>
    <message>
        <source>Only the person who removed addresses can put them back.</source>
        <translation>Seule la personne qui a retiré les adresses peut les rétablir.</translation>
    </message>
    <message>
        <source>put back the trusted addresses of this person</source>
        <translation>rétablir les adresses de confiance de cette personne</translation>
    </message>
    <message>
        <source>remove this person&apos;s trusted addresses</source>
        <translation>retirer les adresses de confiance de cette personne</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not an IP address such as 192.0.2.10.</source>
        <translation>« {address} » n&apos;est pas une adresse IP telle que 192.0.2.10.</translation>
    </message>
    <message>
        <source>This person no longer exists (another workstation deleted it).</source>
        <translation>Cette personne n&apos;existe plus (un autre poste de travail l&apos;a supprimée).</translation>
    </message>
    <message>
        <source>trust an address for this person</source>
        <translation>faire confiance à une adresse pour cette personne</translation>
    </message>
    <message>
        <source>remove the trusted addresses of {person}</source>
        <translation>retirer les adresses de confiance de {person}</translation>
    </message>
    <message>
        <source>{refusal} Nothing was removed.</source>
        <translation>{refusal} Rien n&apos;a été retiré.</translation>
    </message>
</context>
<context>
    <name>validation</name>
    <message>
        <source>Phone</source>
        <extracomment>The default field names of the messages (a caller passes its own field&apos;s name).</extracomment>
        <translation>Téléphone</translation>
    </message>
    <message>
        <source>Hourly Cost</source>
        <translation>Coût horaire</translation>
    </message>
    <message>
        <source>{label} cannot contain control or invisible characters.</source>
        <translation>{label} : les caractères de contrôle ou invisibles ne sont pas admis.</translation>
    </message>
    <message>
        <source>{label} is required.</source>
        <translation>{label} : ce champ est obligatoire.</translation>
    </message>
    <message>
        <source>{label} can have at most {count} characters.</source>
        <translation>{label} : {count} caractères au maximum.</translation>
    </message>
    <message>
        <source>Login is required.</source>
        <translation>L&apos;identifiant est obligatoire.</translation>
    </message>
    <message>
        <source>Login may use letters, digits and . _ @ - (at most 64, starting with a letter or digit).</source>
        <translation>L&apos;identifiant peut contenir des lettres, des chiffres et . _ @ - (64 au maximum, en commençant par une lettre ou un chiffre).</translation>
    </message>
    <message>
        <source>Email is required.</source>
        <translation>L&apos;adresse e-mail est obligatoire.</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not a valid e-mail address.</source>
        <translation>« {address} » n&apos;est pas une adresse e-mail valide.</translation>
    </message>
    <message>
        <source>{label}: use digits, spaces and + ( ) . / - only.</source>
        <translation>{label} : utilisez uniquement des chiffres, des espaces et + ( ) . / -.</translation>
    </message>
    <message>
        <source>{label}: &apos;{number}&apos; is not a valid phone number (check the digits and the country code).</source>
        <translation>{label} : « {number} » n&apos;est pas un numéro de téléphone valide (vérifiez les chiffres et l&apos;indicatif du pays).</translation>
    </message>
    <message>
        <source>{label} must be between 0 and {maximum}.</source>
        <translation>{label} : la valeur doit être comprise entre 0 et {maximum}.</translation>
    </message>
    <message>
        <source>{label} can have at most two decimals.</source>
        <translation>{label} : deux décimales au maximum.</translation>
    </message>
    <message>
        <source>{label} must be an amount such as 42.50.</source>
        <translation>{label} : indiquez un montant, par exemple 42,50.</translation>
    </message>
</context>
<context>
    <name>widgets</name>
    <message>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <source>Unsaved changes</source>
        <translation>Modifications non enregistrées</translation>
    </message>
    <message>
        <source>Discard changes</source>
        <translation>Abandonner les modifications</translation>
    </message>
    <message>
        <source>Keep editing</source>
        <translation>Continuer la modification</translation>
    </message>
</context>
</TS>
