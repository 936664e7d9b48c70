<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="nl_BE" sourcelanguage="en_GB">
<context>
    <name>AddressDialog</name>
    <message>
        <source>Address</source>
        <translation>Adres</translation>
    </message>
    <message>
        <source>Address (view only)</source>
        <translation>Adres (alleen bekijken)</translation>
    </message>
</context>
<context>
    <name>AuditLog</name>
    <message>
        <source>All logins</source>
        <extracomment>Families of events, as ``AuditService.query(event=...)`` accepts them.</extracomment>
        <translation>Alle aanmeldingen</translation>
    </message>
    <message>
        <source>All security codes</source>
        <translation>Alle beveiligingscodes</translation>
    </message>
    <message>
        <source>All trusted IP changes</source>
        <translation>Alle wijzigingen aan vertrouwde IP-adressen</translation>
    </message>
    <message>
        <source>All account locks</source>
        <translation>Alle blokkeringen</translation>
    </message>
    <message>
        <source>Two-step on and off</source>
        <translation>Twee stappen aan en uit</translation>
    </message>
    <message>
        <source>All personnel changes</source>
        <translation>Alle personeelswijzigingen</translation>
    </message>
    <message>
        <source>All group changes</source>
        <translation>Alle groepswijzigingen</translation>
    </message>
    <message>
        <source>All sessions</source>
        <translation>Alle sessies</translation>
    </message>
    <message>
        <source>Break-glass recoveries</source>
        <translation>Noodherstellingen</translation>
    </message>
    <message>
        <source>Any time</source>
        <translation>Altijd</translation>
    </message>
    <message>
        <source>Today</source>
        <translation>Vandaag</translation>
    </message>
    <message>
        <source>Last 7 days</source>
        <translation>Laatste 7 dagen</translation>
    </message>
    <message>
        <source>Last 30 days</source>
        <translation>Laatste 30 dagen</translation>
    </message>
    <message>
        <source>Between…</source>
        <translation>Tussen…</translation>
    </message>
    <message>
        <source>Time</source>
        <extracomment>The core&apos;s column titles (``audit.CSV_COLUMNS``) and event names (``audit.EVENT_NAMES``), marked for translation in the Log&apos;s context; ``log_text`` translates them when shown. The stored rows keep their event codes and English details.</extracomment>
        <translation>Tijdstip</translation>
    </message>
    <message>
        <source>Actor</source>
        <translation>Uitvoerder</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Gebeurtenis</translation>
    </message>
    <message>
        <source>Subject</source>
        <translation>Betreft</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>Adres</translation>
    </message>
    <message>
        <source>Workstation</source>
        <translation>Werkpost</translation>
    </message>
    <message>
        <source>Detail</source>
        <translation>Detail</translation>
    </message>
    <message>
        <source>Time (UTC)</source>
        <translation>Tijdstip (UTC)</translation>
    </message>
    <message>
        <source>Login succeeded</source>
        <translation>Aanmelding gelukt</translation>
    </message>
    <message>
        <source>Login refused</source>
        <translation>Aanmelding geweigerd</translation>
    </message>
    <message>
        <source>Security code asked</source>
        <translation>Beveiligingscode gevraagd</translation>
    </message>
    <message>
        <source>Code sent</source>
        <translation>Code verzonden</translation>
    </message>
    <message>
        <source>Code not delivered</source>
        <translation>Code niet afgeleverd</translation>
    </message>
    <message>
        <source>Wrong code</source>
        <translation>Foute code</translation>
    </message>
    <message>
        <source>Code voided</source>
        <translation>Code ongeldig gemaakt</translation>
    </message>
    <message>
        <source>Account locked</source>
        <translation>Account geblokkeerd</translation>
    </message>
    <message>
        <source>Account unlocked</source>
        <translation>Account gedeblokkeerd</translation>
    </message>
    <message>
        <source>IP trusted</source>
        <translation>IP vertrouwd</translation>
    </message>
    <message>
        <source>IP removed</source>
        <translation>IP verwijderd</translation>
    </message>
    <message>
        <source>IP restored</source>
        <translation>IP hersteld</translation>
    </message>
    <message>
        <source>IP expired</source>
        <translation>IP verlopen</translation>
    </message>
    <message>
        <source>IP not trusted</source>
        <translation>IP niet vertrouwd</translation>
    </message>
    <message>
        <source>Office network added</source>
        <translation>Kantoornetwerk toegevoegd</translation>
    </message>
    <message>
        <source>Office network removed</source>
        <translation>Kantoornetwerk verwijderd</translation>
    </message>
    <message>
        <source>Helpdesk code issued</source>
        <translation>Helpdeskcode uitgegeven</translation>
    </message>
    <message>
        <source>Helpdesk code cancelled</source>
        <translation>Helpdeskcode ingetrokken</translation>
    </message>
    <message>
        <source>Two-step turned on</source>
        <translation>Twee stappen aangezet</translation>
    </message>
    <message>
        <source>Two-step turned off</source>
        <translation>Twee stappen uitgezet</translation>
    </message>
    <message>
        <source>Setting changed</source>
        <translation>Instelling gewijzigd</translation>
    </message>
    <message>
        <source>Permissions changed</source>
        <translation>Machtigingen gewijzigd</translation>
    </message>
    <message>
        <source>Group created</source>
        <translation>Groep aangemaakt</translation>
    </message>
    <message>
        <source>Group renamed</source>
        <translation>Groep hernoemd</translation>
    </message>
    <message>
        <source>Group deleted</source>
        <translation>Groep verwijderd</translation>
    </message>
    <message>
        <source>Person created</source>
        <translation>Persoon aangemaakt</translation>
    </message>
    <message>
        <source>Person changed</source>
        <translation>Persoon gewijzigd</translation>
    </message>
    <message>
        <source>Person deleted</source>
        <translation>Persoon verwijderd</translation>
    </message>
    <message>
        <source>Password changed</source>
        <translation>Wachtwoord gewijzigd</translation>
    </message>
    <message>
        <source>Test code sent</source>
        <translation>Testcode verzonden</translation>
    </message>
    <message>
        <source>Trust alert sent</source>
        <translation>Vertrouwensmelding verzonden</translation>
    </message>
    <message>
        <source>Trust alert not sent</source>
        <translation>Vertrouwensmelding niet verzonden</translation>
    </message>
    <message>
        <source>Signed out</source>
        <translation>Afgemeld</translation>
    </message>
    <message>
        <source>Session started</source>
        <translation>Sessie gestart</translation>
    </message>
    <message>
        <source>Session ended</source>
        <translation>Sessie beëindigd</translation>
    </message>
    <message>
        <source>Session refused</source>
        <translation>Sessie geweigerd</translation>
    </message>
    <message>
        <source>Break-glass recovery</source>
        <translation>Noodherstel</translation>
    </message>
    <message>
        <source>Local time of this workstation (UTC in each cell&apos;s tooltip)</source>
        <translation>Lokale tijd van deze werkpost (UTC in de tooltip van elke cel)</translation>
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
        <translation>Verbinding met de databank verbroken — nieuwe poging over {delay}</translation>
    </message>
    <message>
        <source>Database connection restored</source>
        <translation>Verbinding met de databank hersteld</translation>
    </message>
</context>
<context>
    <name>ChangeListener</name>
    <message>
        <source>Live refresh failed: {why} — retrying in {delay}</source>
        <translation>Automatisch vernieuwen mislukt: {why} — nieuwe poging over {delay}</translation>
    </message>
</context>
<context>
    <name>ConflictDialog</name>
    <message>
        <source>Changed on another workstation</source>
        <translation>Gewijzigd op een andere werkpost</translation>
    </message>
    <message>
        <source>{name} was changed on another workstation since you opened it.</source>
        <translation>{name} is op een andere werkpost gewijzigd sinds u deze fiche opende.</translation>
    </message>
    <message>
        <source>Nothing was saved. Your changes are still in the form. Compare them with the values saved meanwhile:</source>
        <translation>Er is niets opgeslagen. Uw wijzigingen staan nog in het formulier. Vergelijk ze met de waarden die intussen zijn opgeslagen:</translation>
    </message>
    <message>
        <source>Nothing was saved. The other workstation&apos;s values are the same as yours.</source>
        <translation>Er is niets opgeslagen. De waarden van de andere werkpost zijn dezelfde als de uwe.</translation>
    </message>
    <message>
        <source>Field</source>
        <translation>Veld</translation>
    </message>
    <message>
        <source>Yours</source>
        <translation>Uw waarde</translation>
    </message>
    <message>
        <source>Theirs (saved)</source>
        <translation>Opgeslagen</translation>
    </message>
    <message>
        <source>Your new password is kept in the form and saved with yours.</source>
        <translation>Uw nieuwe wachtwoord blijft in het formulier en wordt met uw wijzigingen opgeslagen.</translation>
    </message>
    <message>
        <source>Save mine over theirs</source>
        <translation>Mijn versie opslaan</translation>
    </message>
    <message>
        <source>Discard mine, load theirs</source>
        <translation>Andere versie laden</translation>
    </message>
    <message>
        <source>Keep editing</source>
        <translation>Verder bewerken</translation>
    </message>
    <message>
        <source>Yes</source>
        <translation>Ja</translation>
    </message>
    <message>
        <source>No</source>
        <translation>Nee</translation>
    </message>
    <message>
        <source>Not saved: {name} was changed on another workstation. Your changes are still in the form.</source>
        <translation>Niet opgeslagen: {name} is op een andere werkpost gewijzigd. Uw wijzigingen staan nog in het formulier.</translation>
    </message>
</context>
<context>
    <name>ConnectionStatusBox</name>
    <message>
        <source>Connection security</source>
        <translation>Beveiliging van de verbindingen</translation>
    </message>
    <message>
        <source>Database connection</source>
        <translation>Verbinding met de databank</translation>
    </message>
    <message>
        <source>Code delivery</source>
        <translation>Verzending van codes</translation>
    </message>
    <message>
        <source>This workstation&apos;s address, as the database sees it</source>
        <translation>Het adres van deze werkpost, zoals de databank het ziet</translation>
    </message>
    <message>
        <source>Embedded database on this computer (no network link)</source>
        <translation>Ingebouwde databank op deze computer (geen netwerkverbinding)</translation>
    </message>
    <message>
        <source>Encryption: TLS</source>
        <translation>Versleuteling: TLS</translation>
    </message>
    <message>
        <source>Encryption: none (server on this computer only)</source>
        <translation>Versleuteling: geen (server alleen op deze computer)</translation>
    </message>
    <message>
        <source>Not encrypted: data and sign-ins cross the network readable. Turn on TLS for the database connection.</source>
        <translation>Niet versleuteld: gegevens en aanmeldingen gaan leesbaar over het netwerk. Schakel TLS in voor de verbinding met de databank.</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>onbekend</translation>
    </message>
    <message>
        <source>Sent by the {relay}</source>
        <translation>Verzonden door de {relay}</translation>
    </message>
    <message>
        <source>Encryption: none (local server only)</source>
        <translation>Versleuteling: geen (alleen lokale server)</translation>
    </message>
    <message>
        <source>Not encrypted: codes cross the network readable.</source>
        <translation>Niet versleuteld: codes gaan leesbaar over het netwerk.</translation>
    </message>
</context>
<context>
    <name>DatabaseStatus</name>
    <message>
        <source>settings file</source>
        <extracomment>Where the database address came from (``Resolved.source``), as the tooltip says it; the option and the variable keep their names.</extracomment>
        <translation>instellingenbestand</translation>
    </message>
    <message>
        <source>embedded default</source>
        <translation>ingebouwde standaard</translation>
    </message>
    <message>
        <source>{where}
Database {url} ({source})</source>
        <translation>{where}
Databank {url} ({source})</translation>
    </message>
</context>
<context>
    <name>DeliveryFields</name>
    <message>
        <source>Phone region</source>
        <translation>Landcode gsm</translation>
    </message>
    <message>
        <source>Thumbprint</source>
        <translation>Vingerafdruk</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>Wachtwoord</translation>
    </message>
    <message>
        <source>Private key (PEM)</source>
        <translation>Privésleutel (PEM)</translation>
    </message>
    <message>
        <source>JSON key</source>
        <translation>JSON-sleutel</translation>
    </message>
    <message>
        <source>Account SID</source>
        <translation>Account SID</translation>
    </message>
    <message>
        <source>API key</source>
        <translation>API-sleutel</translation>
    </message>
    <message>
        <source>The mailbox that sends the codes.</source>
        <translation>De mailbox die de codes verstuurt.</translation>
    </message>
    <message>
        <source>A number (+32…) or a name of up to 11 letters and digits.</source>
        <translation>Een nummer (+32…) of een naam van hoogstens 11 letters en cijfers.</translation>
    </message>
    <message>
        <source>The name of your mail server, such as smtp.example.com.</source>
        <translation>De naam van uw mailserver, zoals smtp.example.com.</translation>
    </message>
    <message>
        <source>The address the codes come from.</source>
        <translation>Het adres waarvan de codes komen.</translation>
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
        <translation>Certificates &amp; secrets → de Value van het geheim (niet zijn ID).</translation>
    </message>
    <message>
        <source>The certificate&apos;s PEM private key: paste it, or choose its .pem file.</source>
        <translation>De PEM-privésleutel van het certificaat: plak hem of kies het .pem-bestand.</translation>
    </message>
    <message>
        <source>The service account&apos;s JSON key file, as downloaded: paste it or choose the file.</source>
        <translation>Het JSON-sleutelbestand van het serviceaccount, zoals gedownload: plak het of kies het bestand.</translation>
    </message>
    <message>
        <source>Empty: {host}.</source>
        <translation>Leeg: {host}.</translation>
    </message>
    <message>
        <source>Numbers stored without a country code are read as this country&apos;s: BE, NL, …</source>
        <translation>Nummers zonder landcode worden gelezen als nummers van dit land: BE, NL, …</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>Bladeren…</translation>
    </message>
    <message>
        <source>From file…</source>
        <translation>Uit bestand…</translation>
    </message>
    <message>
        <source>filled in from the JSON key</source>
        <translation>ingevuld uit de JSON-sleutel</translation>
    </message>
    <message>
        <source>STARTTLS (port 587)</source>
        <translation>STARTTLS (poort 587)</translation>
    </message>
    <message>
        <source>TLS from the start (port 465)</source>
        <translation>TLS vanaf het begin (poort 465)</translation>
    </message>
    <message>
        <source>None (local relay only)</source>
        <translation>Geen (enkel lokale relay)</translation>
    </message>
    <message>
        <source>Client secret</source>
        <translation>Clientgeheim</translation>
    </message>
    <message>
        <source>Certificate</source>
        <translation>Certificaat</translation>
    </message>
    <message>
        <source>Gateway token</source>
        <translation>Gatewaytoken</translation>
    </message>
    <message>
        <source>Auth Token</source>
        <translation>Auth Token</translation>
    </message>
    <message>
        <source>API secret</source>
        <translation>API-geheim</translation>
    </message>
    <message>
        <source>Product token</source>
        <translation>Producttoken</translation>
    </message>
    <message>
        <source>Secret</source>
        <translation>Geheim</translation>
    </message>
    <message>
        <source>password</source>
        <translation>wachtwoord</translation>
    </message>
    <message>
        <source>gateway token</source>
        <translation>gatewaytoken</translation>
    </message>
    <message>
        <source>service account JSON key</source>
        <translation>JSON-sleutel van het serviceaccount</translation>
    </message>
    <message>
        <source>product token</source>
        <translation>producttoken</translation>
    </message>
    <message>
        <source>client secret</source>
        <translation>clientgeheim</translation>
    </message>
    <message>
        <source>certificate private key (PEM)</source>
        <translation>privésleutel van het certificaat (PEM)</translation>
    </message>
    <message>
        <source>secret</source>
        <translation>geheim</translation>
    </message>
</context>
<context>
    <name>DeliveryTest</name>
    <message>
        <source>Send test code</source>
        <translation>Testcode verzenden</translation>
    </message>
    <message>
        <source>Send a test code to</source>
        <translation>Een testcode verzenden naar</translation>
    </message>
    <message>
        <source>Uses the saved settings; the code in it is valid nowhere.</source>
        <translation>Gebruikt de opgeslagen instellingen; de code erin is nergens geldig.</translation>
    </message>
</context>
<context>
    <name>ExpirySweep</name>
    <message>
        <source>Expiry sweep: removed 1 expired trusted IP address</source>
        <extracomment>Whether the sweep is stopping: a job asks it between its units of work and ends early. What the sweep runs each time; returns how many trusted IPs it removed. Reports from the sweep&apos;s thread: how many it removed; a status text and how long it stays.</extracomment>
        <translation>Opschoning: 1 verlopen vertrouwd IP-adres verwijderd</translation>
    </message>
    <message>
        <source>Expiry sweep: removed {count} expired trusted IP addresses</source>
        <translation>Opschoning: {count} verlopen vertrouwde IP-adressen verwijderd</translation>
    </message>
    <message>
        <source>Expiry sweep postponed: the database is busy — retrying in {delay}</source>
        <translation>Opschoning uitgesteld: de databank is bezet — nieuwe poging over {delay}</translation>
    </message>
    <message>
        <source>Expiry sweep failed: {why} — retrying in {delay}</source>
        <translation>Opschoning mislukt: {why} — nieuwe poging over {delay}</translation>
    </message>
</context>
<context>
    <name>FirstRunDialog</name>
    <message>
        <source>First administrator</source>
        <translation>Eerste beheerder</translation>
    </message>
    <message>
        <source>The administrator could not be created</source>
        <translation>De beheerder kon niet worden aangemaakt</translation>
    </message>
    <message>
        <source>Creating the administrator…</source>
        <translation>Beheerder wordt aangemaakt…</translation>
    </message>
    <message>
        <source>Welcome to pmdesk</source>
        <translation>Welkom bij pmdesk</translation>
    </message>
    <message>
        <source>This database has no users yet. Create the first administrator: this account joins the Administrator group and can then add everybody else under Maintenance → Organisation → Personnel.</source>
        <translation>Deze databank heeft nog geen gebruikers. Maak de eerste beheerder aan: dit account hoort bij de groep Administrator en kan daarna alle anderen toevoegen onder Onderhoud → Organisatie → Personeel.</translation>
    </message>
    <message>
        <source>e.g. jsmets</source>
        <translation>bv. jsmets</translation>
    </message>
    <message>
        <source>name@example.com</source>
        <translation>naam@voorbeeld.be</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>Gebruikersnaam</translation>
    </message>
    <message>
        <source>Forename</source>
        <translation>Voornaam</translation>
    </message>
    <message>
        <source>Lastname</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <source>Security codes are sent here once two-step authentication is on.</source>
        <translation>Beveiligingscodes worden naar dit adres gestuurd zodra aanmelden in twee stappen aan staat.</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>Wachtwoord</translation>
    </message>
    <message>
        <source>Confirm</source>
        <translation>Bevestigen</translation>
    </message>
    <message>
        <source>At least 8 characters.</source>
        <translation>Minstens 8 tekens.</translation>
    </message>
    <message>
        <source>Confirm password</source>
        <translation>Wachtwoord bevestigen</translation>
    </message>
    <message>
        <source>Create administrator</source>
        <translation>Beheerder aanmaken</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuleren</translation>
    </message>
</context>
<context>
    <name>GroupNameDialog</name>
    <message>
        <source>e.g. Reception desk</source>
        <translation>bv. Onthaal</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Opslaan…</translation>
    </message>
</context>
<context>
    <name>GroupSelector</name>
    <message>
        <source>Usergroup Selector</source>
        <translation>Gebruikersgroep kiezen</translation>
    </message>
    <message>
        <source>Reload the groups and their rights (F5)</source>
        <translation>De groepen en hun rechten vernieuwen (F5)</translation>
    </message>
    <message>
        <source>Reload the groups</source>
        <translation>De groepen vernieuwen</translation>
    </message>
    <message>
        <source>New group</source>
        <translation>Nieuwe groep</translation>
    </message>
    <message>
        <source>Rename</source>
        <translation>Hernoemen</translation>
    </message>
    <message>
        <source>Delete group</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Move the people in this group to another group first.</source>
        <translation>Verplaats eerst de personen in deze groep naar een andere groep.</translation>
    </message>
    <message>
        <source>Your user group needs System {right} for this.</source>
        <translation>Uw gebruikersgroep heeft hiervoor Systeem {right} nodig.</translation>
    </message>
    <message>
        <source>Nobody is in this group.</source>
        <translation>Niemand zit in deze groep.</translation>
    </message>
    <message>
        <source>1 person is in this group.</source>
        <translation>1 persoon zit in deze groep.</translation>
    </message>
    <message>
        <source>{n} people are in this group.</source>
        <translation>{n} personen zitten in deze groep.</translation>
    </message>
</context>
<context>
    <name>Header</name>
    <message>
        <source>Language</source>
        <translation>Taal</translation>
    </message>
    <message>
        <source>Sign out</source>
        <translation>Afmelden</translation>
    </message>
</context>
<context>
    <name>HelpdeskCodeDialog</name>
    <message>
        <source>Issue helpdesk code</source>
        <translation>Helpdeskcode aanmaken</translation>
    </message>
    <message>
        <source>A one-time sign-in code for {name}, to read out over the phone. It works once, in the code step after their password, also while e-mail or SMS is down. A new code replaces the one issued before.</source>
        <translation>Een eenmalige aanmeldcode voor {name}, om telefonisch voor te lezen. Hij werkt één keer, bij de beveiligingscode na het wachtwoord, ook als e-mail of sms niet werkt. Een nieuwe code vervangt de vorige.</translation>
    </message>
    <message>
        <source>e.g. Ticket 4711: phone lost</source>
        <translation>bv. Ticket 4711: gsm verloren</translation>
    </message>
    <message>
        <source> min</source>
        <translation> min</translation>
    </message>
    <message>
        <source>&amp;Reason or ticket</source>
        <translation>&amp;Reden of ticket</translation>
    </message>
    <message>
        <source>&amp;Valid for</source>
        <translation>&amp;Geldig gedurende</translation>
    </message>
    <message>
        <source>Issue code</source>
        <translation>Code aanmaken</translation>
    </message>
    <message>
        <source>Helpdesk code</source>
        <translation>Helpdeskcode</translation>
    </message>
    <message>
        <source>&amp;Copy</source>
        <translation>&amp;Kopiëren</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>Sluiten</translation>
    </message>
    <message>
        <source>Read this code out to {name} ({login}):</source>
        <translation>Lees deze code voor aan {name} ({login}):</translation>
    </message>
    <message>
        <source> It replaces the code issued before.</source>
        <translation> Hij vervangt de vorige code.</translation>
    </message>
    <message>
        <source>Valid once, until {time}.{replaced} It is not shown again once you close this window.</source>
        <translation>Eén keer geldig, tot {time}.{replaced} Na het sluiten van dit venster wordt hij niet meer getoond.</translation>
    </message>
</context>
<context>
    <name>HelpdeskRow</name>
    <message>
        <source>Issue helpdesk code…</source>
        <translation>Helpdeskcode aanmaken…</translation>
    </message>
    <message>
        <source>A one-time sign-in code to read out over the phone</source>
        <translation>Een eenmalige aanmeldcode om telefonisch voor te lezen</translation>
    </message>
    <message>
        <source>Cancel code</source>
        <translation>Code intrekken</translation>
    </message>
    <message>
        <source>Cancel helpdesk code</source>
        <translation>Helpdeskcode intrekken</translation>
    </message>
    <message>
        <source>No helpdesk code.</source>
        <translation>Geen helpdeskcode.</translation>
    </message>
    <message>
        <source>A helpdesk code is live until {time} (issued by {who}: {reason}).</source>
        <translation>Er is een helpdeskcode geldig tot {time} (aangemaakt door {who}: {reason}).</translation>
    </message>
</context>
<context>
    <name>Launcher</name>
    <message>
        <source>No system keyring</source>
        <extracomment>Login works: the database answered at the newest schema with users (opened or not yet). The database is open and migrated, the login service loaded. Opening the database failed (the problem box is shown). The start-up and sign-in steps that run on workers (each names where its error goes).</extracomment>
        <translation>Geen systeemsleutelhanger</translation>
    </message>
    <message>
        <source>pmdesk keeps mail and database passwords only in the system keyring, and none is available on this computer. You can sign in, but passwords cannot be saved until a keyring is installed or unlocked.</source>
        <translation>pmdesk bewaart wachtwoorden voor mail en databank alleen in de sleutelhanger van het systeem, en op deze computer is er geen beschikbaar. U kunt zich aanmelden, maar wachtwoorden kunnen pas worden opgeslagen als er een sleutelhanger is geïnstalleerd of ontgrendeld.</translation>
    </message>
    <message>
        <source>Administrator {login} created. Sign in with your new password.</source>
        <translation>Beheerder {login} aangemaakt. Meld u aan met uw nieuwe wachtwoord.</translation>
    </message>
    <message>
        <source>Another workstation created the first user meanwhile: sign in with it.</source>
        <translation>Een andere werkpost heeft intussen de eerste gebruiker aangemaakt: meld u daarmee aan.</translation>
    </message>
    <message>
        <source>There are no users yet: click “Set up pmdesk…” to create the first administrator.</source>
        <translation>Er zijn nog geen gebruikers: klik op “pmdesk instellen…” om de eerste beheerder aan te maken.</translation>
    </message>
    <message>
        <source>Opening pmdesk…</source>
        <translation>pmdesk wordt geopend…</translation>
    </message>
    <message>
        <source>pmdesk could not open its main window</source>
        <translation>pmdesk kon zijn hoofdvenster niet openen</translation>
    </message>
    <message>
        <source>You were signed out: {why} Sign in again to go on.</source>
        <translation>U bent afgemeld: {why} Meld u opnieuw aan om verder te gaan.</translation>
    </message>
</context>
<context>
    <name>LockedNowBox</name>
    <message>
        <source>Locked now</source>
        <translation>Nu geblokkeerd</translation>
    </message>
    <message>
        <source>Person</source>
        <translation>Persoon</translation>
    </message>
    <message>
        <source>Where</source>
        <translation>Waar</translation>
    </message>
    <message>
        <source>Until</source>
        <translation>Tot</translation>
    </message>
    <message>
        <source>Left</source>
        <translation>Resteert</translation>
    </message>
    <message>
        <source>Read who is locked again</source>
        <translation>Opnieuw inlezen wie geblokkeerd is</translation>
    </message>
    <message>
        <source>Reload</source>
        <translation>Vernieuwen</translation>
    </message>
    <message>
        <source>Unlock</source>
        <translation>Deblokkeren</translation>
    </message>
    <message>
        <source>Unlock all…</source>
        <translation>Alle deblokkeren…</translation>
    </message>
    <message>
        <source>The locks could not be read</source>
        <translation>De blokkeringen konden niet worden gelezen</translation>
    </message>
    <message>
        <source>Unlocking…</source>
        <translation>Deblokkeren…</translation>
    </message>
    <message>
        <source>Not unlocked</source>
        <translation>Niet gedeblokkeerd</translation>
    </message>
    <message>
        <source>{name} is unlocked everywhere.</source>
        <translation>{name} is overal gedeblokkeerd.</translation>
    </message>
    <message>
        <source>Unlock all</source>
        <translation>Alle deblokkeren</translation>
    </message>
    <message>
        <source>Unlock everyone locked now ({count})?</source>
        <translation>Iedereen deblokkeren die nu geblokkeerd is ({count})?</translation>
    </message>
    <message>
        <source>They can sign in again at once, from every address. Each unlock is logged.</source>
        <translation>Zij kunnen meteen opnieuw aanmelden, vanaf elk adres. Elke deblokkering wordt in het logboek opgenomen.</translation>
    </message>
    <message>
        <source>Unlocked: {count}.</source>
        <translation>Gedeblokkeerd: {count}.</translation>
    </message>
    <message>
        <source>Left locked, as their user group has rights your own lacks: {names}.</source>
        <translation>Geblokkeerd gebleven, omdat hun gebruikersgroep rechten heeft die de uwe mist: {names}.</translation>
    </message>
    <message>
        <source>everywhere</source>
        <translation>overal</translation>
    </message>
    <message>
        <source>unknown address</source>
        <translation>onbekend adres</translation>
    </message>
    <message>
        <source>Lock {n} in a row; {f} failures since; until {until}</source>
        <translation>Blokkering {n} op rij; sindsdien {f} mislukte aanmeldingen; tot {until}</translation>
    </message>
    <message>
        <source>Nobody is locked now.</source>
        <translation>Niemand is nu geblokkeerd.</translation>
    </message>
    <message>
        <source>Your user group needs Maintenance Edit to unlock.</source>
        <translation>Uw gebruikersgroep heeft Onderhoud Bewerken nodig om te deblokkeren.</translation>
    </message>
</context>
<context>
    <name>LockoutBox</name>
    <message>
        <source>Lockout</source>
        <translation>Blokkering</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>Opslaan</translation>
    </message>
    <message>
        <source>Saving…</source>
        <extracomment>The settings&apos; names, in the order of the spin boxes. Saved: the settings as they are now (their new version), for the page.</extracomment>
        <translation>Opslaan…</translation>
    </message>
    <message>
        <source>Not saved</source>
        <translation>Niet opgeslagen</translation>
    </message>
    <message>
        <source> failures</source>
        <translation> pogingen</translation>
    </message>
    <message>
        <source> min</source>
        <translation> min</translation>
    </message>
    <message>
        <source>Failures before a lock</source>
        <translation>Mislukte pogingen tot blokkering</translation>
    </message>
    <message>
        <source>First lock</source>
        <translation>Eerste blokkering</translation>
    </message>
    <message>
        <source>Longest lock</source>
        <translation>Langste blokkering</translation>
    </message>
    <message>
        <source>Failures are counted per person and address: a guesser at one address locks the person out from there only. Each later lock doubles, up to the longest. {cap} failures from anywhere lock the person everywhere (NIST&apos;s cap).</source>
        <translation>Mislukte aanmeldingen worden per persoon en adres geteld: wie op één adres gokt, blokkeert de persoon alleen vanaf dat adres. Elke volgende blokkering duurt dubbel zo lang, tot de langste. {cap} mislukte aanmeldingen vanaf eender waar blokkeren de persoon overal (de grens van NIST).</translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation>Opgeslagen.</translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation>Uw gebruikersgroep heeft Systeem → Beveiliging Bewerken nodig om dit te wijzigen.</translation>
    </message>
</context>
<context>
    <name>LogPage</name>
    <message>
        <source>User (who acted, or whom it concerned)</source>
        <translation>Gebruiker (wie handelde of wie het betrof)</translation>
    </message>
    <message>
        <source>User</source>
        <translation>Gebruiker</translation>
    </message>
    <message>
        <source>IP or its start</source>
        <translation>IP of het begin ervan</translation>
    </message>
    <message>
        <source>IP address</source>
        <translation>IP-adres</translation>
    </message>
    <message>
        <source>An IP address (192.0.2.10), or how it starts (192.0.2.) for a whole block</source>
        <translation>Een IP-adres (192.0.2.10), of hoe het begint (192.0.2.) voor een heel blok</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Gebeurtenis</translation>
    </message>
    <message>
        <source>All events</source>
        <translation>Alle gebeurtenissen</translation>
    </message>
    <message>
        <source>Period</source>
        <translation>Periode</translation>
    </message>
    <message>
        <source>From</source>
        <translation>Van</translation>
    </message>
    <message>
        <source>To</source>
        <translation>Tot</translation>
    </message>
    <message>
        <source>and</source>
        <translation>en</translation>
    </message>
    <message>
        <source>Reload (F5)</source>
        <translation>Vernieuwen (F5)</translation>
    </message>
    <message>
        <source>Reload the log</source>
        <translation>Het logboek vernieuwen</translation>
    </message>
    <message>
        <source>Export to CSV…</source>
        <translation>Exporteren naar CSV…</translation>
    </message>
    <message>
        <source>Log events</source>
        <translation>Gebeurtenissen in het logboek</translation>
    </message>
    <message>
        <source>Trace this address…</source>
        <translation>Dit adres traceren…</translation>
    </message>
    <message>
        <source>Everyone who has the chosen event&apos;s address trusted, and every event there</source>
        <translation>Iedereen die het adres van de gekozen gebeurtenis vertrouwt, en elke gebeurtenis daar</translation>
    </message>
    <message>
        <source>The export did not work</source>
        <translation>De export is mislukt</translation>
    </message>
    <message>
        <source>The log could not be loaded</source>
        <translation>Het logboek kon niet worden geladen</translation>
    </message>
    <message>
        <source>No events match these filters.</source>
        <translation>Geen gebeurtenissen voldoen aan deze filters.</translation>
    </message>
    <message>
        <source>1 event</source>
        <translation>1 gebeurtenis</translation>
    </message>
    <message>
        <source>{n} events</source>
        <translation>{n} gebeurtenissen</translation>
    </message>
    <message>
        <source>Newest {n} events shown; scroll down for older ones.</source>
        <translation>De nieuwste {n} gebeurtenissen worden getoond; scrol naar beneden voor oudere.</translation>
    </message>
    <message>
        <source>Exporting…</source>
        <translation>Exporteren…</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Laden…</translation>
    </message>
    <message>
        <source>Export the log to CSV</source>
        <translation>Het logboek exporteren naar CSV</translation>
    </message>
    <message>
        <source>CSV files (*.csv)</source>
        <translation>CSV-bestanden (*.csv)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>Alle bestanden (*)</translation>
    </message>
    <message>
        <source>1 event exported to {path}.</source>
        <translation>1 gebeurtenis geëxporteerd naar {path}.</translation>
    </message>
    <message>
        <source>{n} events exported to {path}.</source>
        <translation>{n} gebeurtenissen geëxporteerd naar {path}.</translation>
    </message>
    <message>
        <source>The file could not be written: {reason}</source>
        <translation>Het bestand kon niet worden geschreven: {reason}</translation>
    </message>
</context>
<context>
    <name>LoginCodePage</name>
    <message>
        <source>6-digit code</source>
        <translation>6 cijfers</translation>
    </message>
    <message>
        <source>Security code</source>
        <translation>Beveiligingscode</translation>
    </message>
    <message>
        <source>Trust this IP</source>
        <translation>Dit IP-adres vertrouwen</translation>
    </message>
    <message>
        <source>Only tick this on your office network, never at home or on public Wi-Fi.</source>
        <translation>Vink dit alleen aan op uw kantoornetwerk, nooit thuis of op openbare wifi.</translation>
    </message>
    <message>
        <source>Send a new code</source>
        <translation>Nieuwe code sturen</translation>
    </message>
    <message>
        <source>The security code could not be sent.</source>
        <translation>De beveiligingscode kon niet worden verzonden.</translation>
    </message>
    <message>
        <source>A security code was sent to you.</source>
        <translation>Er is u een beveiligingscode gestuurd.</translation>
    </message>
    <message>
        <source>A new security code was sent to {destination}.</source>
        <translation>Er is een nieuwe beveiligingscode gestuurd naar {destination}.</translation>
    </message>
    <message>
        <source>A security code was sent to {destination}.</source>
        <translation>Er is een beveiligingscode gestuurd naar {destination}.</translation>
    </message>
    <message>
        <source>Enter the code the helpdesk gave you.</source>
        <translation>Geef de code in die u van de helpdesk kreeg.</translation>
    </message>
    <message>
        <source>Or enter the code the helpdesk gave you.</source>
        <translation>Of geef de code in die u van de helpdesk kreeg.</translation>
    </message>
    <message>
        <source>6 or 12 digits</source>
        <translation>6 of 12 cijfers</translation>
    </message>
    <message>
        <source>Not available: {reason}</source>
        <translation>Niet beschikbaar: {reason}</translation>
    </message>
    <message>
        <source>This code has expired. Send a new code.</source>
        <translation>Deze code is verlopen. Vraag een nieuwe code aan.</translation>
    </message>
    <message>
        <source>Valid for {time}</source>
        <translation>Nog {time} geldig</translation>
    </message>
    <message>
        <source>Send a new code ({seconds} s)</source>
        <translation>Nieuwe code ({seconds} s)</translation>
    </message>
    <message>
        <source>Login refused.</source>
        <translation>Aanmelden geweigerd.</translation>
    </message>
    <message>
        <source>1 attempt left.</source>
        <translation>Nog 1 poging.</translation>
    </message>
    <message>
        <source>{n} attempts left.</source>
        <translation>Nog {n} pogingen.</translation>
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
        <translation>Aanmelden</translation>
    </message>
    <message>
        <source>Version {version}</source>
        <translation>Versie {version}</translation>
    </message>
    <message>
        <source>Back</source>
        <translation>Terug</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuleren</translation>
    </message>
    <message>
        <source>Set up pmdesk…</source>
        <translation>pmdesk instellen…</translation>
    </message>
    <message>
        <source>Create the first administrator of this database</source>
        <translation>De eerste beheerder van deze databank aanmaken</translation>
    </message>
    <message>
        <source>Opening database…</source>
        <translation>Databank openen…</translation>
    </message>
    <message>
        <source>Enter your login.</source>
        <translation>Geef uw gebruikersnaam in.</translation>
    </message>
    <message>
        <source>Enter your password.</source>
        <translation>Geef uw wachtwoord in.</translation>
    </message>
    <message>
        <source>Signing in…</source>
        <translation>Aanmelden…</translation>
    </message>
    <message>
        <source>Enter the security code you received.</source>
        <translation>Geef de beveiligingscode in die u ontving.</translation>
    </message>
    <message>
        <source>Checking the code…</source>
        <translation>Controleren…</translation>
    </message>
    <message>
        <source>Sending a new code…</source>
        <translation>Code verzenden…</translation>
    </message>
    <message>
        <source>Something went wrong while signing in ({name}). Try again.</source>
        <translation>Er liep iets mis bij het aanmelden ({name}). Probeer het opnieuw.</translation>
    </message>
    <message>
        <source>A new code is on its way. Use the newest code.</source>
        <translation>Er is een nieuwe code onderweg. Gebruik de nieuwste code.</translation>
    </message>
</context>
<context>
    <name>MailSettingsBox</name>
    <message>
        <source>The test code could not be sent</source>
        <translation>De testcode kon niet worden verzonden</translation>
    </message>
    <message>
        <source>Code delivery</source>
        <translation>Verzending van codes</translation>
    </message>
    <message>
        <source>Send codes by</source>
        <translation>Codes verzenden via</translation>
    </message>
    <message>
        <source>Save delivery settings</source>
        <translation>Verzending opslaan</translation>
    </message>
    <message>
        <source>mobile number</source>
        <translation>gsm-nummer</translation>
    </message>
    <message>
        <source>e-mail address</source>
        <translation>e-mailadres</translation>
    </message>
    <message>
        <source>Save the settings first: the test uses the saved ones.</source>
        <translation>Sla eerst de instellingen op: de test gebruikt de opgeslagen instellingen.</translation>
    </message>
    <message>
        <source>Each code is written as an .eml file to {folder}; nothing leaves this computer. For trying pmdesk out, not for real use.</source>
        <translation>Elke code wordt als .eml-bestand weggeschreven naar {folder}; niets verlaat deze computer. Om pmdesk uit te proberen, niet voor echt gebruik.</translation>
    </message>
    <message>
        <source>the default outbox</source>
        <translation>het standaard Postvak UIT</translation>
    </message>
    <message>
        <source>Not saved: correct the fields marked in red.</source>
        <translation>Niet opgeslagen: verbeter de rood gemarkeerde velden.</translation>
    </message>
    <message>
        <source>The file could not be read: {problem}</source>
        <translation>Het bestand kon niet worden gelezen: {problem}</translation>
    </message>
    <message>
        <source>Outbox folder</source>
        <translation>Map Postvak UIT</translation>
    </message>
    <message>
        <source>E-mail: SMTP server</source>
        <translation>E-mail: SMTP-server</translation>
    </message>
    <message>
        <source>E-mail: Microsoft 365</source>
        <translation>E-mail: Microsoft 365</translation>
    </message>
    <message>
        <source>E-mail: Google Workspace</source>
        <translation>E-mail: Google Workspace</translation>
    </message>
    <message>
        <source>E-mail: Microsoft Graph</source>
        <translation>E-mail: Microsoft Graph</translation>
    </message>
    <message>
        <source>SMS: pmdesk gateway</source>
        <translation>Sms: pmdesk-gateway</translation>
    </message>
    <message>
        <source>SMS: Twilio</source>
        <translation>Sms: Twilio</translation>
    </message>
    <message>
        <source>SMS: Vonage</source>
        <translation>Sms: Vonage</translation>
    </message>
    <message>
        <source>SMS: CM.com</source>
        <translation>Sms: CM.com</translation>
    </message>
    <message>
        <source>Paste the certificate&apos;s PEM private key, from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----.</source>
        <translation>Plak de PEM-privésleutel van het certificaat, van -----BEGIN PRIVATE KEY----- tot -----END PRIVATE KEY-----.</translation>
    </message>
    <message>
        <source>stored in the keyring; type to replace</source>
        <translation>bewaard in de sleutelhanger; typ om te vervangen</translation>
    </message>
    <message>
        <source>not stored on this computer yet</source>
        <translation>nog niet bewaard op deze computer</translation>
    </message>
    <message>
        <source>The keyring could not be read: {problem}</source>
        <translation>De sleutelhanger kon niet worden gelezen: {problem}</translation>
    </message>
    <message>
        <source>No user name: the server is used without a login.</source>
        <translation>Geen gebruikersnaam: de server wordt zonder aanmelding gebruikt.</translation>
    </message>
    <message>
        <source>The {what} is kept in this computer&apos;s keyring, never in the database: every workstation that sends codes needs it once.</source>
        <translation>Het geheim ({what}) wordt bewaard in de sleutelhanger van deze computer, nooit in de databank: elke werkpost die codes verstuurt, heeft het één keer nodig.</translation>
    </message>
    <message>
        <source>it is too large to be a key</source>
        <translation>het is te groot om een sleutel te zijn</translation>
    </message>
    <message>
        <source>it is not a text file (a JSON key or a PEM key)</source>
        <translation>het is geen tekstbestand (een JSON- of PEM-sleutel)</translation>
    </message>
    <message>
        <source>JSON key</source>
        <translation>JSON-sleutel</translation>
    </message>
    <message>
        <source>Private key</source>
        <translation>Privésleutel</translation>
    </message>
    <message>
        <source>JSON key (*.json)</source>
        <translation>JSON-sleutel (*.json)</translation>
    </message>
    <message>
        <source>PEM key (*.pem *.key)</source>
        <translation>PEM-sleutel (*.pem *.key)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>Alle bestanden (*)</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Maintenance</source>
        <translation>Onderhoud</translation>
    </message>
    <message>
        <source>System</source>
        <translation>Systeem</translation>
    </message>
    <message>
        <source>Your user group may not see any screen. Ask an administrator to grant it rights in System → Permissions.</source>
        <extracomment>Each tab with its English title (shown translated; again on a language change).</extracomment>
        <translation>Uw gebruikersgroep mag geen enkel scherm zien. Vraag een beheerder om haar rechten te geven in Systeem → Machtigingen.</translation>
    </message>
    <message>
        <source>pmdesk now uses {language}, for you and on this workstation.</source>
        <extracomment>How long a status message stays on screen.</extracomment>
        <translation>pmdesk gebruikt nu {language}, voor u en op deze werkpost.</translation>
    </message>
    <message>
        <source>{language} is used on this workstation, but not saved for you: {why}</source>
        <translation>{language} wordt op deze werkpost gebruikt, maar is niet voor u bewaard: {why}</translation>
    </message>
    <message>
        <source>You have changes that are not saved. Discard them and sign out?</source>
        <translation>U hebt wijzigingen die niet zijn opgeslagen. Wilt u ze verwerpen en afmelden?</translation>
    </message>
    <message>
        <source>You have changes that are not saved. Discard them and close pmdesk?</source>
        <translation>U hebt wijzigingen die niet zijn opgeslagen. Wilt u ze verwerpen en pmdesk sluiten?</translation>
    </message>
    <message>
        <source>Personnel</source>
        <translation>Personeel</translation>
    </message>
    <message>
        <source>Organisation</source>
        <translation>Organisatie</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuleren</translation>
    </message>
    <message>
        <source>Permissions</source>
        <translation>Machtigingen</translation>
    </message>
    <message>
        <source>Log</source>
        <translation>Logboek</translation>
    </message>
    <message>
        <source>Security</source>
        <translation>Beveiliging</translation>
    </message>
</context>
<context>
    <name>OfficeNetworksBox</name>
    <message>
        <source>Where addresses may be trusted</source>
        <extracomment>The policy was saved: the settings as they are now (their new version), for the page.</extracomment>
        <translation>Waar adressen vertrouwd mogen worden</translation>
    </message>
    <message>
        <source>Remove…</source>
        <translation>Verwijderen…</translation>
    </message>
    <message>
        <source>Office networks</source>
        <translation>Kantoornetwerken</translation>
    </message>
    <message>
        <source>With the trust policy “Only inside office networks”, “Trust this IP” is offered only to sign-ins from these ranges, as the database sees the address.</source>
        <translation>Met het vertrouwensbeleid “Alleen binnen kantoornetwerken” wordt “Dit IP-adres vertrouwen” alleen aangeboden bij aanmeldingen vanuit deze bereiken, zoals de databank het adres ziet.</translation>
    </message>
    <message>
        <source>Save policy</source>
        <translation>Beleid opslaan</translation>
    </message>
    <message>
        <source>Trust addresses</source>
        <translation>Adressen vertrouwen</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Ranges</source>
        <translation>Bereiken</translation>
    </message>
    <message>
        <source>e.g. Head office</source>
        <translation>bv. Hoofdkantoor</translation>
    </message>
    <message>
        <source>e.g. 10.1.0.0/16, 10.8.0.0/24</source>
        <translation>bv. 10.1.0.0/16, 10.8.0.0/24</translation>
    </message>
    <message>
        <source>IP addresses or networks (CIDR), separated by commas.</source>
        <translation>IP-adressen of netwerken (CIDR), gescheiden door komma&apos;s.</translation>
    </message>
    <message>
        <source>Add network</source>
        <translation>Netwerk toevoegen</translation>
    </message>
    <message>
        <source>Anywhere</source>
        <extracomment>The trust policy&apos;s choices, as the combo box lists them.</extracomment>
        <translation>Overal</translation>
    </message>
    <message>
        <source>Only inside office networks</source>
        <translation>Alleen binnen kantoornetwerken</translation>
    </message>
    <message>
        <source>Never</source>
        <translation>Nooit</translation>
    </message>
    <message>
        <source>The office networks could not be read</source>
        <translation>De kantoornetwerken konden niet worden gelezen</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>Controleren…</translation>
    </message>
    <message>
        <source>What the new policy would change could not be read</source>
        <translation>Wat het nieuwe beleid zou wijzigen, kon niet worden gelezen</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Opslaan…</translation>
    </message>
    <message>
        <source>The trust policy could not be saved</source>
        <translation>Het vertrouwensbeleid kon niet worden opgeslagen</translation>
    </message>
    <message>
        <source>Adding…</source>
        <translation>Toevoegen…</translation>
    </message>
    <message>
        <source>The office network could not be added</source>
        <translation>Het kantoornetwerk kon niet worden toegevoegd</translation>
    </message>
    <message>
        <source>What the removal would change could not be read</source>
        <translation>Wat het verwijderen zou wijzigen, kon niet worden gelezen</translation>
    </message>
    <message>
        <source>Removing…</source>
        <translation>Verwijderen…</translation>
    </message>
    <message>
        <source>The office network could not be removed</source>
        <translation>Het kantoornetwerk kon niet worden verwijderd</translation>
    </message>
    <message>
        <source>Change the trust policy</source>
        <translation>Vertrouwensbeleid wijzigen</translation>
    </message>
    <message>
        <source>Trust addresses: {policy}?</source>
        <translation>Adressen vertrouwen: {policy}?</translation>
    </message>
    <message>
        <source>Change</source>
        <translation>Wijzigen</translation>
    </message>
    <message>
        <source>Trust policy saved: {policy}.</source>
        <translation>Vertrouwensbeleid opgeslagen: {policy}.</translation>
    </message>
    <message>
        <source>Office network “{name}” added: {ranges}.</source>
        <translation>Kantoornetwerk “{name}” toegevoegd: {ranges}.</translation>
    </message>
    <message>
        <source>Remove office network</source>
        <translation>Kantoornetwerk verwijderen</translation>
    </message>
    <message>
        <source>Remove the office network “{name}” ({ranges})?</source>
        <translation>Het kantoornetwerk “{name}” ({ranges}) verwijderen?</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>Office network “{name}” removed.</source>
        <translation>Kantoornetwerk “{name}” verwijderd.</translation>
    </message>
    <message>
        <source>Your user group may not change System → Security.</source>
        <translation>Uw gebruikersgroep mag Systeem → Beveiliging niet wijzigen.</translation>
    </message>
</context>
<context>
    <name>Operation</name>
    <message>
        <source>Changed on another workstation</source>
        <extracomment>Where the conflict&apos;s sentence stays after the dialog (None: the operation&apos;s message).</extracomment>
        <translation>Gewijzigd op een andere werkpost</translation>
    </message>
    <message>
        <source>Reload</source>
        <translation>Opnieuw laden</translation>
    </message>
    <message>
        <source>Keep my changes</source>
        <translation>Mijn wijzigingen behouden</translation>
    </message>
    <message>
        <source>That did not work</source>
        <translation>Dat is niet gelukt</translation>
    </message>
</context>
<context>
    <name>PermissionGridView</name>
    <message>
        <source>{module}: {action}</source>
        <translation>{module}: {action}</translation>
    </message>
    <message>
        <source>{action} on {module}</source>
        <translation>{action} voor {module}</translation>
    </message>
    <message>
        <source>Changed, not saved yet</source>
        <translation>Gewijzigd, nog niet opgeslagen</translation>
    </message>
</context>
<context>
    <name>PermissionsPage</name>
    <message>
        <source>Save Permissions</source>
        <translation>Machtigingen opslaan</translation>
    </message>
    <message>
        <source>Undo changes</source>
        <translation>Ongedaan maken</translation>
    </message>
    <message>
        <source>Read shows a screen, Edit allows changing it, Delete allows removing records in it; Edit and Delete include Read. People get their group&apos;s new rights the next time they sign in.</source>
        <translation>Bekijken toont een scherm, Bewerken laat wijzigen toe, Verwijderen laat toe er gegevens uit te verwijderen; Bewerken en Verwijderen omvatten Bekijken. Personen krijgen de nieuwe rechten van hun groep wanneer ze zich de volgende keer aanmelden.</translation>
    </message>
    <message>
        <source>Permissions</source>
        <translation>Machtigingen</translation>
    </message>
    <message>
        <source>Reload shows the permissions as they are now saved; your ticks are discarded. Keep my changes leaves them here, unsaved.</source>
        <translation>Opnieuw laden toont de machtigingen zoals ze nu zijn opgeslagen; uw vinkjes gaan verloren. Mijn wijzigingen behouden laat ze hier staan, niet opgeslagen.</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Laden…</translation>
    </message>
    <message>
        <source>The group was not deleted</source>
        <translation>De groep is niet verwijderd</translation>
    </message>
    <message>
        <source>The groups could not be loaded</source>
        <translation>De groepen konden niet worden geladen</translation>
    </message>
    <message>
        <source>The permissions could not be loaded</source>
        <translation>De machtigingen konden niet worden geladen</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Opslaan…</translation>
    </message>
    <message>
        <source>The permissions were not saved</source>
        <translation>De machtigingen zijn niet opgeslagen</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>Controleren…</translation>
    </message>
    <message>
        <source>Deleting…</source>
        <translation>Verwijderen…</translation>
    </message>
    <message>
        <source>Not saved. {reason}</source>
        <translation>Niet opgeslagen. {reason}</translation>
    </message>
    <message>
        <source>Groups or permissions were changed on another workstation. Your ticks here are not saved yet.</source>
        <translation>Groepen of machtigingen zijn op een andere werkpost gewijzigd. Uw vinkjes hier zijn nog niet opgeslagen.</translation>
    </message>
    <message>
        <source>1 module changed, not saved yet.</source>
        <translation>1 module gewijzigd, nog niet opgeslagen.</translation>
    </message>
    <message>
        <source>{n} modules changed, not saved yet.</source>
        <translation>{n} modules gewijzigd, nog niet opgeslagen.</translation>
    </message>
    <message>
        <source>Permissions of {group}</source>
        <translation>Machtigingen van {group}</translation>
    </message>
    <message>
        <source>Permissions of {group} saved.</source>
        <translation>Machtigingen van {group} opgeslagen.</translation>
    </message>
    <message>
        <source>Group {group} created, without any right yet: tick what it may do, then Save Permissions.</source>
        <translation>Groep {group} aangemaakt, nog zonder rechten: vink aan wat hij mag en klik dan op Machtigingen opslaan.</translation>
    </message>
    <message>
        <source>New user group</source>
        <translation>Nieuwe gebruikersgroep</translation>
    </message>
    <message>
        <source>Create</source>
        <translation>Aanmaken</translation>
    </message>
    <message>
        <source>Group renamed to {group}.</source>
        <translation>Groep hernoemd tot {group}.</translation>
    </message>
    <message>
        <source>Rename user group</source>
        <translation>Gebruikersgroep hernoemen</translation>
    </message>
    <message>
        <source>Rename</source>
        <translation>Hernoemen</translation>
    </message>
    <message>
        <source>Group {group} deleted.</source>
        <translation>Groep {group} verwijderd.</translation>
    </message>
    <message>
        <source>Delete user group</source>
        <translation>Gebruikersgroep verwijderen</translation>
    </message>
    <message>
        <source>Delete the group {group}?</source>
        <translation>De groep {group} verwijderen?</translation>
    </message>
    <message>
        <source>Delete group</source>
        <translation>Groep verwijderen</translation>
    </message>
    <message>
        <source>Its permissions are removed with it. This cannot be undone.</source>
        <translation>Zijn machtigingen worden mee verwijderd. Dit kan niet ongedaan worden gemaakt.</translation>
    </message>
    <message>
        <source>Discard your changes to the permissions of {group}?</source>
        <translation>Uw wijzigingen aan de machtigingen van {group} verwerpen?</translation>
    </message>
    <message>
        <source>That did not work</source>
        <translation>Dat is niet gelukt</translation>
    </message>
</context>
<context>
    <name>PersonAccess</name>
    <message>
        <source>Access</source>
        <translation>Toegang</translation>
    </message>
    <message>
        <source>Lets this person open the suite&apos;s separate apps. What they may see and do in pmdesk comes from their user group (System → Permissions).</source>
        <translation>Hiermee kan deze persoon de afzonderlijke apps van de suite openen. Wat hij of zij in pmdesk mag zien en doen, hangt af van de gebruikersgroep (Systeem → Machtigingen).</translation>
    </message>
</context>
<context>
    <name>PersonActions</name>
    <message>
        <source>Delete person</source>
        <translation>Persoon verwijderen</translation>
    </message>
    <message>
        <source>Delete {name}?</source>
        <translation>{name} verwijderen?</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>Deleting…</source>
        <translation>Verwijderen…</translation>
    </message>
    <message>
        <source>Their login and trusted IP addresses are removed too. This cannot be undone.</source>
        <translation>Ook de gebruikersnaam en de vertrouwde IP-adressen worden verwijderd. Dit kan niet ongedaan worden gemaakt.</translation>
    </message>
    <message>
        <source>{name} can sign in again.</source>
        <translation>{name} kan zich opnieuw aanmelden.</translation>
    </message>
    <message>
        <source>Unlocking…</source>
        <translation>Deblokkeren…</translation>
    </message>
    <message>
        <source>{name} is signed out everywhere ({n} sessions ended).</source>
        <translation>{name} is overal afgemeld ({n} sessies beëindigd).</translation>
    </message>
    <message>
        <source>End sessions</source>
        <translation>Sessies beëindigen</translation>
    </message>
    <message>
        <source>Sign {name} out everywhere?</source>
        <translation>{name} overal afmelden?</translation>
    </message>
    <message>
        <source>Ending sessions…</source>
        <translation>Sessies beëindigen…</translation>
    </message>
    <message>
        <source>Their desktop apps return to the login dialog within a minute, and their command-line sessions stop working. They can sign in again.</source>
        <translation>Binnen een minuut keren de desktop-apps van deze persoon terug naar het aanmeldvenster en werken de sessies op de opdrachtregel niet meer. Opnieuw aanmelden blijft mogelijk.</translation>
    </message>
    <message>
        <source>Trusted address removed.</source>
        <translation>Vertrouwd adres verwijderd.</translation>
    </message>
    <message>
        <source>Remove trusted address</source>
        <translation>Vertrouwd adres verwijderen</translation>
    </message>
    <message>
        <source>Remove this trusted address of {name}?</source>
        <translation>Dit vertrouwde adres van {name} verwijderen?</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>Removing…</source>
        <translation>Verwijderen…</translation>
    </message>
    <message>
        <source>Logins from there will need a security code again.</source>
        <translation>Wie zich van daaruit aanmeldt, heeft opnieuw een beveiligingscode nodig.</translation>
    </message>
    <message>
        <source>Issuing…</source>
        <translation>Aanmaken…</translation>
    </message>
    <message>
        <source>The helpdesk code of {name} is cancelled.</source>
        <translation>De helpdeskcode van {name} is ingetrokken.</translation>
    </message>
    <message>
        <source>Cancel helpdesk code</source>
        <translation>Helpdeskcode intrekken</translation>
    </message>
    <message>
        <source>Cancel the helpdesk code of {name}?</source>
        <translation>De helpdeskcode van {name} intrekken?</translation>
    </message>
    <message>
        <source>Cancel code</source>
        <translation>Code intrekken</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>Intrekken…</translation>
    </message>
    <message>
        <source>It stops working at once. You can issue a new one.</source>
        <translation>Hij werkt meteen niet meer. U kunt een nieuwe aanmaken.</translation>
    </message>
    <message>
        <source>Keep it</source>
        <translation>Behouden</translation>
    </message>
</context>
<context>
    <name>PersonAddress</name>
    <message>
        <source>Click here to change the address.</source>
        <translation>Klik hier om het adres te wijzigen.</translation>
    </message>
    <message>
        <source>No address yet</source>
        <translation>Nog geen adres</translation>
    </message>
    <message>
        <source>Click here to see the whole address.</source>
        <translation>Klik hier om het volledige adres te zien.</translation>
    </message>
</context>
<context>
    <name>PersonEditor</name>
    <message>
        <source>Personnel data</source>
        <translation>Personeelsgegevens</translation>
    </message>
    <message>
        <source>Newsletter</source>
        <translation>Nieuwsbrief</translation>
    </message>
    <message>
        <source>Invoicing</source>
        <translation>Facturatie</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>Adres</translation>
    </message>
    <message>
        <source>Use e-mail for</source>
        <translation>E-mail voor</translation>
    </message>
    <message>
        <source>Security</source>
        <translation>Beveiliging</translation>
    </message>
    <message>
        <source>Whether this person is listed in the suite&apos;s separate apps. It has nothing to do with the password: pmdesk lists this person and lets them sign in either way.</source>
        <translation>Of deze persoon in de afzonderlijke apps van de suite wordt getoond. Dit staat los van het wachtwoord: pmdesk toont deze persoon en laat hem of haar in beide gevallen aanmelden.</translation>
    </message>
    <message>
        <source>Confirm password</source>
        <translation>Wachtwoord bevestigen</translation>
    </message>
    <message>
        <source>select a location</source>
        <translation>kies een vestiging</translation>
    </message>
    <message>
        <source>select a usergroup</source>
        <translation>kies een groep</translation>
    </message>
    <message>
        <source>select a language</source>
        <translation>kies een taal</translation>
    </message>
    <message>
        <source>select a team</source>
        <translation>kies een team</translation>
    </message>
    <message>
        <source>New person</source>
        <translation>Nieuwe persoon</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>Gebruikersnaam</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>Wachtwoord</translation>
    </message>
    <message>
        <source>Lastname</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Forename</source>
        <translation>Voornaam</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>Nummer</translation>
    </message>
    <message>
        <source>Street</source>
        <translation>Straat</translation>
    </message>
    <message>
        <source>Postcode</source>
        <translation>Postcode</translation>
    </message>
    <message>
        <source>City</source>
        <translation>Gemeente</translation>
    </message>
    <message>
        <source>Country</source>
        <translation>Land</translation>
    </message>
    <message>
        <source>Phone</source>
        <translation>Telefoon</translation>
    </message>
    <message>
        <source>Mobile</source>
        <translation>Gsm</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <source>Use e-mail for Newsletter</source>
        <translation>E-mail gebruiken voor de nieuwsbrief</translation>
    </message>
    <message>
        <source>Use e-mail for Invoicing</source>
        <translation>E-mail gebruiken voor de facturatie</translation>
    </message>
    <message>
        <source>Location</source>
        <translation>Vestiging</translation>
    </message>
    <message>
        <source>Usergroup</source>
        <translation>Gebruikersgroep</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Taal</translation>
    </message>
    <message>
        <source>Team</source>
        <translation>Team</translation>
    </message>
    <message>
        <source>Hourly Cost</source>
        <translation>Uurkost</translation>
    </message>
    <message>
        <source>Confirm</source>
        <translation>Bevestigen</translation>
    </message>
    <message>
        <source>Visible in the suite&apos;s apps</source>
        <translation>Zichtbaar in de suite-apps</translation>
    </message>
    <message>
        <source>Planning</source>
        <translation>Planning</translation>
    </message>
    <message>
        <source>Notifications</source>
        <translation>Meldingen</translation>
    </message>
    <message>
        <source>Inspection</source>
        <translation>Keuring</translation>
    </message>
    <message>
        <source>Webservice</source>
        <translation>Webservice</translation>
    </message>
    <message>
        <source>Courtesy Car</source>
        <translation>Vervangwagen</translation>
    </message>
    <message>
        <source>Reception</source>
        <translation>Onthaal</translation>
    </message>
    <message>
        <source>Leave empty to keep the current password. A new password removes this person&apos;s trusted IP addresses.</source>
        <translation>Laat leeg om het huidige wachtwoord te behouden. Een nieuw wachtwoord verwijdert de vertrouwde IP-adressen van deze persoon.</translation>
    </message>
    <message>
        <source>unchanged</source>
        <translation>ongewijzigd</translation>
    </message>
    <message>
        <source>A new person who gets a login needs a password of at least 8 characters.</source>
        <translation>Een nieuwe persoon met een gebruikersnaam heeft een wachtwoord van minstens 8 tekens nodig.</translation>
    </message>
    <message>
        <source>No password yet: give one to let this person sign in.</source>
        <translation>Nog geen wachtwoord: geef er een in zodat deze persoon zich kan aanmelden.</translation>
    </message>
    <message>
        <source>at least 8 characters</source>
        <translation>minstens 8 tekens</translation>
    </message>
    <message>
        <source>the same again</source>
        <translation>nogmaals hetzelfde</translation>
    </message>
</context>
<context>
    <name>PersonFormPanel</name>
    <message>
        <source>Save</source>
        <translation>Opslaan</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>View only: you have Read rights on Maintenance. Changing people needs Edit rights (System → Permissions).</source>
        <translation>Alleen bekijken: u hebt leesrechten op Onderhoud. Om personen te wijzigen zijn bewerkrechten nodig (Systeem → Machtigingen).</translation>
    </message>
    <message>
        <source>Nobody is in the personnel list yet.</source>
        <translation>Er staat nog niemand in de personeelslijst.</translation>
    </message>
    <message>
        <source>Click New to add the first person.</source>
        <translation>Klik op Nieuw om de eerste persoon toe te voegen.</translation>
    </message>
</context>
<context>
    <name>PersonLock</name>
    <message>
        <source>Unlock</source>
        <translation>Deblokkeren</translation>
    </message>
    <message>
        <source>Locked until {time} after {n} failed logins.</source>
        <translation>Geblokkeerd tot {time} na {n} mislukte aanmeldingen.</translation>
    </message>
    <message>
        <source>Not locked.</source>
        <translation>Niet geblokkeerd.</translation>
    </message>
    <message>
        <source>{n} failed logins since the last success.</source>
        <translation>{n} mislukte aanmeldingen sinds de laatste geslaagde.</translation>
    </message>
</context>
<context>
    <name>PersonSessions</name>
    <message>
        <source>Open sessions</source>
        <translation>Open sessies</translation>
    </message>
    <message>
        <source>Where</source>
        <translation>Waar</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>Adres</translation>
    </message>
    <message>
        <source>Workstation</source>
        <translation>Werkpost</translation>
    </message>
    <message>
        <source>Last used</source>
        <translation>Laatst gebruikt</translation>
    </message>
    <message>
        <source>No open sessions.</source>
        <translation>Geen open sessies.</translation>
    </message>
    <message>
        <source>End sessions</source>
        <translation>Sessies beëindigen</translation>
    </message>
    <message>
        <source>Sign this person out everywhere: desktop apps and the command line</source>
        <translation>Deze persoon overal afmelden: desktop-apps en opdrachtregel</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>onbekend</translation>
    </message>
</context>
<context>
    <name>PersonTrustedIps</name>
    <message>
        <source>Trusted IP addresses</source>
        <translation>Vertrouwde IP-adressen</translation>
    </message>
    <message>
        <source>IP</source>
        <translation>IP</translation>
    </message>
    <message>
        <source>Creation Date</source>
        <translation>Aangemaakt op</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>Vervalt</translation>
    </message>
    <message>
        <source>No trusted addresses: this person enters a code at every login while two-step authentication is on.</source>
        <translation>Geen vertrouwde adressen: zolang aanmelden in twee stappen aan staat, geeft deze persoon bij elke aanmelding een code in.</translation>
    </message>
    <message>
        <source>Click the red icon to remove an address trusted by mistake (a home network, say): logins from there need a security code again.</source>
        <translation>Klik op het rode pictogram om een per vergissing vertrouwd adres (bijvoorbeeld een thuisnetwerk) te verwijderen: wie zich van daaruit aanmeldt, heeft dan opnieuw een beveiligingscode nodig.</translation>
    </message>
    <message>
        <source>Remove this trusted address</source>
        <translation>Dit vertrouwde adres verwijderen</translation>
    </message>
    <message>
        <source>Remove {address}</source>
        <translation>{address} verwijderen</translation>
    </message>
</context>
<context>
    <name>PersonnelList</name>
    <message>
        <source>Search name, number, login or e-mail</source>
        <translation>Zoek op naam, nummer, gebruikersnaam of e-mail</translation>
    </message>
    <message>
        <source>Search personnel</source>
        <translation>Personeel zoeken</translation>
    </message>
    <message>
        <source>New</source>
        <translation>Nieuw</translation>
    </message>
    <message>
        <source>Reload the list (F5)</source>
        <translation>Lijst vernieuwen (F5)</translation>
    </message>
    <message>
        <source>Reload the list</source>
        <translation>Lijst vernieuwen</translation>
    </message>
    <message>
        <source>Personnel</source>
        <translation>Personeel</translation>
    </message>
    <message>
        <source>1 person matches</source>
        <translation>1 persoon gevonden</translation>
    </message>
    <message>
        <source>{n} people match</source>
        <translation>{n} personen gevonden</translation>
    </message>
    <message>
        <source>1 person</source>
        <translation>1 persoon</translation>
    </message>
    <message>
        <source>{n} people</source>
        <translation>{n} personen</translation>
    </message>
    <message>
        <source>The list could not be loaded</source>
        <translation>De lijst kon niet worden geladen</translation>
    </message>
</context>
<context>
    <name>PersonnelModel</name>
    <message>
        <source>Lastname</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Forename</source>
        <translation>Voornaam</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>Nummer</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>Gebruikersnaam</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <source>Usergroup</source>
        <translation>Gebruikersgroep</translation>
    </message>
    <message>
        <source>Locked</source>
        <translation>Geblokkeerd</translation>
    </message>
    <message>
        <source>Click to sort by {column}</source>
        <extracomment>A fresh count arrived (after a search, a sort or a refresh). A query failed: the exception (shown by the page).</extracomment>
        <translation>Klik om te sorteren op {column}</translation>
    </message>
    <message>
        <source>Locked until {time}</source>
        <translation>Geblokkeerd tot {time}</translation>
    </message>
</context>
<context>
    <name>PersonnelPage</name>
    <message>
        <source>{name} saved.</source>
        <translation>{name} opgeslagen.</translation>
    </message>
    <message>
        <source>Your input is still here: Save adds it as a new person.</source>
        <translation>Uw invoer staat er nog: Opslaan voegt ze toe als nieuwe persoon.</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Laden…</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Opslaan…</translation>
    </message>
    <message>
        <source>{name} was deleted.</source>
        <translation>{name} is verwijderd.</translation>
    </message>
    <message>
        <source>the new person</source>
        <translation>de nieuwe persoon</translation>
    </message>
    <message>
        <source>Discard your changes to {name}?</source>
        <translation>Uw wijzigingen aan {name} negeren?</translation>
    </message>
    <message>
        <source>That did not work</source>
        <translation>Dat is niet gelukt</translation>
    </message>
    <message>
        <source>Not saved: correct the fields marked in red.</source>
        <translation>Niet opgeslagen: verbeter de rood gemarkeerde velden.</translation>
    </message>
    <message>
        <source>You cannot delete your own account.</source>
        <translation>U kunt uw eigen account niet verwijderen.</translation>
    </message>
</context>
<context>
    <name>ReadinessDialog</name>
    <message>
        <source>Turn on two-step authentication</source>
        <translation>Aanmelden in twee stappen inschakelen</translation>
    </message>
    <message>
        <source>1 person could not receive a security code.</source>
        <translation>1 persoon kan geen beveiligingscode ontvangen.</translation>
    </message>
    <message>
        <source>{n} people could not receive a security code.</source>
        <translation>{n} personen kunnen geen beveiligingscode ontvangen.</translation>
    </message>
    <message>
        <source>With two-step authentication on, they could no longer sign in from an address that is not trusted. Codes go by: {delivery}.</source>
        <translation>Met aanmelden in twee stappen ingeschakeld kunnen zij niet meer aanmelden vanaf een adres dat niet vertrouwd is. Codes worden verzonden via: {delivery}.</translation>
    </message>
    <message>
        <source>Everyone who can sign in can receive a security code.</source>
        <translation>Iedereen die kan aanmelden, kan een beveiligingscode ontvangen.</translation>
    </message>
    <message>
        <source>From now on, signing in from an address that is not trusted asks for a code sent by: {delivery}.</source>
        <translation>Voortaan vraagt aanmelden vanaf een adres dat niet vertrouwd is om een code, verzonden via: {delivery}.</translation>
    </message>
    <message>
        <source>People who could not receive a code</source>
        <translation>Personen die geen code kunnen ontvangen</translation>
    </message>
    <message>
        <source>Give them an e-mail address (or a mobile number for SMS) in Maintenance → Personnel first, or turn it on anyway.</source>
        <translation>Geef hun eerst een e-mailadres (of een gsm-nummer voor sms) in Onderhoud → Personeel, of schakel het toch in.</translation>
    </message>
    <message>
        <source>Enable anyway</source>
        <translation>Toch inschakelen</translation>
    </message>
    <message>
        <source>Enable</source>
        <translation>Inschakelen</translation>
    </message>
</context>
<context>
    <name>SearchBox</name>
    <message>
        <source>Search</source>
        <translation>Zoeken</translation>
    </message>
    <message>
        <source>Clear</source>
        <translation>Wissen</translation>
    </message>
</context>
<context>
    <name>SecurityPage</name>
    <message>
        <source>Reload shows the settings as they are now saved; what you typed here is discarded. Keep my changes leaves them here, unsaved.</source>
        <extracomment>The trusted IP table shows a fresh page (after a reload, a filter, paging or a removal).</extracomment>
        <translation>Opnieuw laden toont de instellingen zoals ze nu bewaard zijn; wat u hier typte, vervalt. Mijn wijzigingen behouden laat ze hier staan, niet opgeslagen.</translation>
    </message>
    <message>
        <source>The security settings could not be loaded</source>
        <translation>De beveiligingsinstellingen konden niet worden geladen</translation>
    </message>
    <message>
        <source>The connection status could not be read</source>
        <translation>De status van de verbinding kon niet worden gelezen</translation>
    </message>
    <message>
        <source>Checking who can receive a code…</source>
        <translation>Nagaan wie een code kan ontvangen…</translation>
    </message>
    <message>
        <source>The check did not work</source>
        <translation>De controle is mislukt</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Opslaan…</translation>
    </message>
    <message>
        <source>The change was not saved</source>
        <translation>De wijziging is niet opgeslagen</translation>
    </message>
    <message>
        <source>What the shorter period would end could not be read</source>
        <translation>Wat de kortere periode zou beëindigen, kon niet worden gelezen</translation>
    </message>
    <message>
        <source>Not saved</source>
        <translation>Niet opgeslagen</translation>
    </message>
    <message>
        <source>Not saved: correct the fields marked in red.</source>
        <translation>Niet opgeslagen: verbeter de rood gemarkeerde velden.</translation>
    </message>
    <message>
        <source>The test code could not be sent</source>
        <translation>De testcode kon niet worden verzonden</translation>
    </message>
    <message>
        <source>The security settings were changed on another workstation. Your changes here are not saved yet; reload (F5) to see theirs.</source>
        <translation>De beveiligingsinstellingen zijn op een andere werkpost gewijzigd. Uw wijzigingen hier zijn nog niet opgeslagen; laad opnieuw (F5) om de hunne te zien.</translation>
    </message>
    <message>
        <source>Discard your changes to the security settings and reload?</source>
        <translation>Uw wijzigingen aan de beveiligingsinstellingen verwerpen en opnieuw laden?</translation>
    </message>
    <message>
        <source>Discard and reload</source>
        <translation>Verwerpen en opnieuw laden</translation>
    </message>
    <message>
        <source>Turn off two-step authentication</source>
        <translation>Aanmelden in twee stappen uitschakelen</translation>
    </message>
    <message>
        <source>Turn two-step authentication off?</source>
        <translation>Aanmelden in twee stappen uitschakelen?</translation>
    </message>
    <message>
        <source>Turn off</source>
        <translation>Uitschakelen</translation>
    </message>
    <message>
        <source>A password alone will be enough to sign in, from any address.</source>
        <translation>Een wachtwoord alleen volstaat dan om aan te melden, vanaf elk adres.</translation>
    </message>
    <message>
        <source>Two-step authentication is on.</source>
        <translation>Aanmelden in twee stappen is ingeschakeld.</translation>
    </message>
    <message>
        <source>Two-step authentication is off.</source>
        <translation>Aanmelden in twee stappen is uitgeschakeld.</translation>
    </message>
    <message>
        <source>Settings saved, but the {what} was not stored in the keyring; it is still in its field. Save again once the keyring works.</source>
        <translation>Instellingen opgeslagen, maar {what} is niet in de sleutelhanger bewaard; het staat nog in het veld. Sla opnieuw op zodra de sleutelhanger werkt.</translation>
    </message>
    <message>
        <source>Saved. Send a test code to check it works.</source>
        <translation>Opgeslagen. Verzend een testcode om na te gaan of het werkt.</translation>
    </message>
    <message>
        <source>Test code for {to} written to {file}</source>
        <translation>Testcode voor {to} weggeschreven naar {file}</translation>
    </message>
    <message>
        <source>Test code sent to {to} ({how}).</source>
        <translation>Testcode verzonden naar {to} ({how}).</translation>
    </message>
    <message>
        <source>Sending a test code to {to}…</source>
        <translation>Testcode verzenden naar {to}…</translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation>Uw gebruikersgroep heeft Systeem → Beveiliging Bewerken nodig om dit te wijzigen.</translation>
    </message>
</context>
<context>
    <name>ShutOutModel</name>
    <message>
        <source>Name</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>Gebruikersnaam</translation>
    </message>
    <message>
        <source>Why</source>
        <translation>Waarom</translation>
    </message>
</context>
<context>
    <name>TraceDialog</name>
    <message>
        <source>Trace {address}</source>
        <translation>Tracering {address}</translation>
    </message>
    <message>
        <source>Trusted for</source>
        <translation>Vertrouwd voor</translation>
    </message>
    <message>
        <source>Who has this address trusted</source>
        <translation>Wie dit adres vertrouwt</translation>
    </message>
    <message>
        <source>User</source>
        <translation>Gebruiker</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Creation Date</source>
        <translation>Aangemaakt op</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>Vervalt</translation>
    </message>
    <message>
        <source>Events at this address</source>
        <translation>Gebeurtenissen op dit adres</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>Tijdstip</translation>
    </message>
    <message>
        <source>Actor</source>
        <translation>Uitvoerder</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Gebeurtenis</translation>
    </message>
    <message>
        <source>Subject</source>
        <translation>Betreft</translation>
    </message>
    <message>
        <source>Workstation</source>
        <translation>Werkpost</translation>
    </message>
    <message>
        <source>The trace could not be read</source>
        <translation>De tracering kon niet worden gelezen</translation>
    </message>
    <message>
        <source>Reading…</source>
        <translation>Lezen…</translation>
    </message>
    <message>
        <source>Trusted for nobody</source>
        <translation>Voor niemand vertrouwd</translation>
    </message>
    <message>
        <source>Trusted for 1 person</source>
        <translation>Vertrouwd voor 1 persoon</translation>
    </message>
    <message>
        <source>Trusted for {n} people</source>
        <translation>Vertrouwd voor {n} personen</translation>
    </message>
    <message>
        <source>No events at this address</source>
        <translation>Geen gebeurtenissen op dit adres</translation>
    </message>
    <message>
        <source>Events at this address ({n}, newest first)</source>
        <translation>Gebeurtenissen op dit adres ({n}, nieuwste eerst)</translation>
    </message>
    <message>
        <source>Seen there: {people}</source>
        <translation>Daar gezien: {people}</translation>
    </message>
</context>
<context>
    <name>TrustBox</name>
    <message>
        <source>Trust and codes</source>
        <extracomment>Something was typed or changed (the message and the fields&apos; errors are cleared).</extracomment>
        <translation>Vertrouwen en codes</translation>
    </message>
    <message>
        <source> days</source>
        <translation> dagen</translation>
    </message>
    <message>
        <source> minutes</source>
        <translation> minuten</translation>
    </message>
    <message>
        <source> hours</source>
        <translation> uur</translation>
    </message>
    <message>
        <source>How long `pmdesk login` keeps the command line signed in. The desktop app stays signed in while it is open.</source>
        <translation>Hoelang `pmdesk login` de opdrachtregel aangemeld houdt. De desktoptoepassing blijft aangemeld zolang ze open is.</translation>
    </message>
    <message>
        <source>e.g. 10.0.0.5, 10.1.0.0/24</source>
        <translation>bv. 10.0.0.5, 10.1.0.0/24</translation>
    </message>
    <message>
        <source>Never trust these addresses</source>
        <translation>Deze adressen nooit vertrouwen</translation>
    </message>
    <message>
        <source>Proxies and connection poolers: everyone behind them shares their address, so it is never trusted. IP addresses or networks, separated by commas.</source>
        <translation>Proxy&apos;s en connection poolers: iedereen erachter deelt hun adres, dus wordt het nooit vertrouwd. IP-adressen of netwerken, gescheiden door komma&apos;s.</translation>
    </message>
    <message>
        <source>e.g. helpdesk@example.com (optional)</source>
        <translation>bv. helpdesk@example.com (optioneel)</translation>
    </message>
    <message>
        <source>Helpdesk mailbox for trust alerts</source>
        <translation>Mailbox van de helpdesk voor vertrouwensmeldingen</translation>
    </message>
    <message>
        <source>When an address outside the office networks is trusted, the person gets an e-mail (&quot;Not you? Call the helpdesk&quot;); this mailbox gets a copy. One e-mail address; empty: only the person.</source>
        <translation>Wanneer een adres buiten de kantoornetwerken vertrouwd wordt, krijgt de persoon een e-mail (&quot;Was u dit niet? Bel de helpdesk&quot;); deze mailbox krijgt een kopie. Eén e-mailadres; leeg: alleen de persoon.</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>Opslaan</translation>
    </message>
    <message>
        <source>Trust an address for</source>
        <translation>Adres vertrouwen voor</translation>
    </message>
    <message>
        <source>A code is valid for</source>
        <translation>Code geldig gedurende</translation>
    </message>
    <message>
        <source>Never trust</source>
        <translation>Nooit vertrouwen</translation>
    </message>
    <message>
        <source>Command-line sessions last</source>
        <translation>Sessies opdrachtregel</translation>
    </message>
    <message>
        <source>Helpdesk mailbox</source>
        <translation>Mailbox helpdesk</translation>
    </message>
    <message>
        <source>Trusted addresses are removed automatically when their time is up; a shorter period applies at once. On a shared database (PostgreSQL, MariaDB), loopback, link-local and local-socket connections are never trusted either. A trust outside the office networks is announced by e-mail to the person and the helpdesk mailbox.</source>
        <translation>Vertrouwde adressen worden automatisch verwijderd zodra hun tijd om is; een kortere periode geldt meteen. Op een gedeelde databank (PostgreSQL, MariaDB) worden loopback-, link-local- en local-socketverbindingen evenmin vertrouwd. Een vertrouwen buiten de kantoornetwerken wordt per e-mail gemeld aan de persoon en aan de mailbox van de helpdesk.</translation>
    </message>
</context>
<context>
    <name>TrustImpact</name>
    <message>
        <source>No trusted address is affected.</source>
        <translation>Geen enkel vertrouwd adres wordt getroffen.</translation>
    </message>
    <message>
        <source>{effect}: their next sign-in asks for a code.</source>
        <translation>{effect}: bij hun volgende aanmelding wordt om een code gevraagd.</translation>
    </message>
</context>
<context>
    <name>TrustSaving</name>
    <message>
        <source>Shorten the trust period</source>
        <translation>Vertrouwensperiode inkorten</translation>
    </message>
    <message>
        <source>Trust addresses for {days} days instead of {before}?</source>
        <translation>Adressen {days} dagen vertrouwen in plaats van {before}?</translation>
    </message>
    <message>
        <source>Shorten</source>
        <translation>Inkorten</translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation>Opgeslagen.</translation>
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
        <translation>Netwerk</translation>
    </message>
    <message>
        <source>Creation Date</source>
        <translation>Aangemaakt</translation>
    </message>
    <message>
        <source>User</source>
        <translation>Gebruiker</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>Vervalt</translation>
    </message>
    <message>
        <source>Reasons</source>
        <translation>Redenen</translation>
    </message>
    <message>
        <source>Outside</source>
        <translation>Buiten kantoor</translation>
    </message>
    <message>
        <source>Public</source>
        <translation>Openbaar</translation>
    </message>
    <message>
        <source>Never used</source>
        <translation>Nooit gebruikt</translation>
    </message>
    <message>
        <source>Shared ({n})</source>
        <translation>Gedeeld ({n})</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>Remove {address}</source>
        <translation>{address} verwijderen</translation>
    </message>
    <message>
        <source>last used {time}</source>
        <translation>laatst gebruikt {time}</translation>
    </message>
    <message>
        <source>Trusted {created}, expires {expires}</source>
        <translation>Vertrouwd sinds {created}, vervalt {expires}</translation>
    </message>
    <message>
        <source>In none of the office networks (System → Security): a home, café or hotel?</source>
        <translation>In geen enkel kantoornetwerk (Systeem → Beveiliging): thuis, een café of een hotel?</translation>
    </message>
    <message>
        <source>Login: {login}</source>
        <translation>Gebruikersnaam: {login}</translation>
    </message>
    <message>
        <source>Remove this trusted address: logins from it need a code again</source>
        <translation>Dit vertrouwde adres verwijderen: aanmeldingen van daar vragen opnieuw een code</translation>
    </message>
</context>
<context>
    <name>TrustedIpPanel</name>
    <message>
        <source>Show only addresses needing review</source>
        <translation>Alleen na te kijken adressen tonen</translation>
    </message>
    <message>
        <source>Only addresses outside the office networks, public ones, ones shared by several people and ones never used since they were trusted</source>
        <translation>Alleen adressen buiten de kantoornetwerken, openbare adressen, adressen die door meerdere personen gedeeld worden en adressen die sinds het vertrouwen nooit gebruikt zijn</translation>
    </message>
    <message>
        <source>Trusted IP addresses ({n} to review)</source>
        <translation>Vertrouwde IP-adressen ({n} na te kijken)</translation>
    </message>
    <message>
        <source>Trusted IP addresses</source>
        <translation>Vertrouwde IP-adressen</translation>
    </message>
    <message>
        <source>Needs review ({n})</source>
        <translation>Na te kijken ({n})</translation>
    </message>
    <message>
        <source>Needs review</source>
        <translation>Na te kijken</translation>
    </message>
    <message>
        <source>{tab} ({n} to review)</source>
        <translation>{tab} ({n} na te kijken)</translation>
    </message>
    <message>
        <source>This is an overview of all IP addresses that are trusted. Click the red icon to remove one trusted by mistake (a home network, say): logins from there need a security code again.</source>
        <extracomment>The table shows a fresh page (after a reload, a filter, paging or a removal). Reload (F5) was clicked: the page reloads everything. &quot;Trace…&quot; for the one address selected: everyone and every event there.</extracomment>
        <translation>Dit is een overzicht van alle vertrouwde IP-adressen. Klik op het rode pictogram om een adres te verwijderen dat per vergissing vertrouwd werd (bv. een thuisnetwerk): aanmeldingen van daar vragen dan opnieuw een beveiligingscode.</translation>
    </message>
    <message>
        <source>Filter by user or address</source>
        <translation>Filteren op gebruiker of adres</translation>
    </message>
    <message>
        <source>Filter trusted IP addresses</source>
        <translation>Vertrouwde IP-adressen filteren</translation>
    </message>
    <message>
        <source>Reload (F5)</source>
        <translation>Vernieuwen (F5)</translation>
    </message>
    <message>
        <source>Reload trusted IP addresses</source>
        <translation>Vertrouwde IP-adressen vernieuwen</translation>
    </message>
    <message>
        <source>Trace…</source>
        <translation>Traceren…</translation>
    </message>
    <message>
        <source>Everyone who has the selected address trusted, and every event there</source>
        <translation>Iedereen die het gekozen adres vertrouwt, en elke gebeurtenis daar</translation>
    </message>
    <message>
        <source>Remove selected</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>Previous</source>
        <translation>Vorige</translation>
    </message>
    <message>
        <source>Next</source>
        <translation>Volgende</translation>
    </message>
    <message>
        <source>No items found.</source>
        <translation>Geen items gevonden.</translation>
    </message>
    <message>
        <source>more than {n}</source>
        <translation>meer dan {n}</translation>
    </message>
    <message>
        <source>Viewing items {first}-{last} of {total}</source>
        <translation>Items {first}-{last} van {total}</translation>
    </message>
    <message>
        <source>Page {page} of {pages}</source>
        <translation>Pagina {page} van {pages}</translation>
    </message>
    <message>
        <source>No trusted address matches “{text}”.</source>
        <translation>Geen vertrouwd adres komt overeen met “{text}”.</translation>
    </message>
    <message>
        <source>No trusted address needs review.</source>
        <translation>Geen vertrouwd adres is na te kijken.</translation>
    </message>
    <message>
        <source>No address is trusted at the moment.</source>
        <translation>Er is momenteel geen vertrouwd adres.</translation>
    </message>
    <message>
        <source>The trusted addresses could not be loaded</source>
        <translation>De vertrouwde adressen konden niet worden geladen</translation>
    </message>
    <message>
        <source>Remove selected ({n})</source>
        <translation>Verwijderen ({n})</translation>
    </message>
    <message>
        <source>Your user group needs System → Security Delete to remove addresses.</source>
        <translation>Uw gebruikersgroep heeft Systeem → Beveiliging Verwijderen nodig om adressen te verwijderen.</translation>
    </message>
</context>
<context>
    <name>TrustedIpRemoval</name>
    <message>
        <source>Nothing was removed</source>
        <translation>Er is niets verwijderd</translation>
    </message>
    <message>
        <source>Nothing was put back</source>
        <translation>Er is niets teruggezet</translation>
    </message>
    <message>
        <source>Your user group may not remove trusted addresses: it needs System → Security Delete.</source>
        <translation>Uw gebruikersgroep mag geen vertrouwde adressen verwijderen: daarvoor is Systeem → Beveiliging Verwijderen nodig.</translation>
    </message>
    <message>
        <source>Remove the trusted address {address} of {user}?</source>
        <translation>Het vertrouwde adres {address} van {user} verwijderen?</translation>
    </message>
    <message>
        <source>Remove {n} trusted addresses?</source>
        <translation>{n} vertrouwde adressen verwijderen?</translation>
    </message>
    <message>
        <source>Remove trusted address</source>
        <translation>Vertrouwd adres verwijderen</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>Logins from there will need a security code again.</source>
        <translation>Aanmeldingen van daar vragen opnieuw een beveiligingscode.</translation>
    </message>
    <message>
        <source>1 trusted address removed.</source>
        <translation>1 vertrouwd adres verwijderd.</translation>
    </message>
    <message>
        <source>{n} trusted addresses removed.</source>
        <translation>{n} vertrouwde adressen verwijderd.</translation>
    </message>
    <message>
        <source>{n} of {m} removed; the others were already gone (removed on another workstation or expired).</source>
        <translation>{n} van {m} verwijderd; de andere waren al weg (verwijderd op een andere werkpost of vervallen).</translation>
    </message>
    <message>
        <source>Removed 1 trusted address.</source>
        <translation>1 vertrouwd adres verwijderd.</translation>
    </message>
    <message>
        <source>Removed {n} trusted addresses.</source>
        <translation>{n} vertrouwde adressen verwijderd.</translation>
    </message>
    <message>
        <source>Undo: put back the addresses just removed</source>
        <translation>Ongedaan maken: de zonet verwijderde adressen terugzetten</translation>
    </message>
    <message>
        <source>1 trusted address put back.</source>
        <translation>1 vertrouwd adres teruggezet.</translation>
    </message>
    <message>
        <source>{n} trusted addresses put back.</source>
        <translation>{n} vertrouwde adressen teruggezet.</translation>
    </message>
    <message>
        <source>Nothing was put back: the time for Undo had passed.</source>
        <translation>Er is niets teruggezet: de tijd om ongedaan te maken was voorbij.</translation>
    </message>
</context>
<context>
    <name>TwoStepBox</name>
    <message>
        <source>Two step authentication</source>
        <translation>Aanmelden in twee stappen</translation>
    </message>
    <message>
        <source>Status:</source>
        <translation>Status:</translation>
    </message>
    <message>
        <source>Turn on…</source>
        <translation>Inschakelen…</translation>
    </message>
    <message>
        <source>How does it work? After the password, pmdesk asks for a 6-digit code sent to the user&apos;s e-mail address — unless they sign in from an address they trusted with &quot;Trust this IP&quot; (only on the office network).</source>
        <translation>Hoe werkt het? Na het wachtwoord vraagt pmdesk een code van 6 cijfers, verzonden naar het e-mailadres van de gebruiker — tenzij die aanmeldt vanaf een adres dat hij vertrouwde met &quot;Dit IP-adres vertrouwen&quot; (alleen op het kantoornetwerk).</translation>
    </message>
    <message>
        <source>On</source>
        <translation>Aan</translation>
    </message>
    <message>
        <source>Off</source>
        <translation>Uit</translation>
    </message>
    <message>
        <source>Turn off…</source>
        <translation>Uitschakelen…</translation>
    </message>
    <message>
        <source>Turn two-step authentication off (asks first)</source>
        <translation>Aanmelden in twee stappen uitschakelen (vraagt eerst bevestiging)</translation>
    </message>
    <message>
        <source>Check who can receive a code, then turn two-step authentication on</source>
        <translation>Nagaan wie een code kan ontvangen en dan aanmelden in twee stappen inschakelen</translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation>Uw gebruikersgroep heeft Systeem → Beveiliging Bewerken nodig om dit te wijzigen.</translation>
    </message>
    <message>
        <source>Signing in from an address that is not trusted asks for a security code.</source>
        <translation>Aanmelden vanaf een adres dat niet vertrouwd is, vraagt een beveiligingscode.</translation>
    </message>
    <message>
        <source>A password is enough to sign in.</source>
        <translation>Een wachtwoord volstaat om aan te melden.</translation>
    </message>
</context>
<context>
    <name>UndoBar</name>
    <message>
        <source>Undo</source>
        <translation>Ongedaan maken</translation>
    </message>
</context>
<context>
    <name>UserStatus</name>
    <message>
        <source>Signed in as {name} ({login})  ·  from {address}</source>
        <translation>Aangemeld als {name} ({login})  ·  vanaf {address}</translation>
    </message>
    <message>
        <source>Signed in as {name} ({login})</source>
        <translation>Aangemeld als {name} ({login})</translation>
    </message>
</context>
<context>
    <name>addresses</name>
    <message>
        <source>&apos;{entry}&apos; has host bits set: did you mean {network}?</source>
        <translation>In &apos;{entry}&apos; zijn hostbits ingevuld: bedoelt u {network}?</translation>
    </message>
    <message>
        <source>&apos;{entry}&apos; is not an IP address or a network (10.1.0.0/24).</source>
        <translation>&apos;{entry}&apos; is geen IP-adres of netwerk (10.1.0.0/24).</translation>
    </message>
</context>
<context>
    <name>audit</name>
    <message>
        <source>Type an IP address (192.0.2.10) or how it starts (192.0.2.).</source>
        <extracomment>How System → Log names each event (its CSV export too). Plain English; the UI translates. The Log&apos;s column titles, in its order; the CSV adds the time in UTC for machines.</extracomment>
        <translation>Typ een IP-adres (192.0.2.10) of het begin ervan (192.0.2.).</translation>
    </message>
</context>
<context>
    <name>auth</name>
    <message>
        <source>Code delivery is not set up correctly ({error}).</source>
        <translation>De verzending van codes is niet correct ingesteld ({error}).</translation>
    </message>
    <message>
        <source>The code could not be sent: {error}.</source>
        <translation>De code kon niet worden verzonden: {error}.</translation>
    </message>
    <message>
        <source>The code could not be sent ({error}).</source>
        <translation>De code kon niet worden verzonden ({error}).</translation>
    </message>
    <message>
        <source>Code delivery is not set up.</source>
        <translation>De verzending van codes is niet ingesteld.</translation>
    </message>
</context>
<context>
    <name>db</name>
    <message>
        <source>The database URL contains undecodable bytes or a NUL character; type it again in plain text.</source>
        <extracomment>The hardening level from which the server checks passwords (a proof computed by the client, docs/server-enforced.md §2). The hardening level from which the server makes the codes and the relay sends them and runs the expiry sweep (§3, §6). The hardening level from which the server keeps the sessions (docs/server-enforced.md §4). The hardening level from which reading needs a session too (row-level security, §5.2): before a sign-in the client asks ``pmdesk.server_info()`` instead of reading tables.</extracomment>
        <translation>De URL van de databank bevat onleesbare bytes of een NUL-teken; typ hem opnieuw als gewone tekst.</translation>
    </message>
    <message>
        <source>Not a database URL: {url}. Use sqlite:///PATH, postgresql://USER@HOST/DB or mariadb://USER@HOST/DB.</source>
        <translation>Geen URL van een databank: {url}. Gebruik sqlite:///PAD, postgresql://GEBRUIKER@HOST/DB of mariadb://GEBRUIKER@HOST/DB.</translation>
    </message>
    <message>
        <source>Unsupported database &apos;{backend}&apos;: pmdesk works with SQLite, PostgreSQL and MariaDB.</source>
        <translation>Niet-ondersteunde databank &apos;{backend}&apos;: pmdesk werkt met SQLite, PostgreSQL en MariaDB.</translation>
    </message>
    <message>
        <source>Database (unreadable address)</source>
        <translation>Databank (onleesbaar adres)</translation>
    </message>
    <message>
        <source>Embedded database (in memory)</source>
        <translation>Ingebouwde databank (in het geheugen)</translation>
    </message>
    <message>
        <source>Embedded database ({path})</source>
        <translation>Ingebouwde databank ({path})</translation>
    </message>
    <message>
        <source>{engine} on {host} / {database}</source>
        <translation>{engine} op {host} / {database}</translation>
    </message>
    <message>
        <source>Cannot create the database file {path}: {error}.</source>
        <translation>Kan het databankbestand {path} niet aanmaken: {error}.</translation>
    </message>
    <message>
        <source>The text contains a character that cannot be stored (NUL or an unpaired surrogate, as left by undecodable bytes); nothing was saved.</source>
        <translation>De tekst bevat een teken dat niet kan worden opgeslagen (NUL of een ongepaard surrogaatteken, zoals onleesbare bytes achterlaten); er is niets opgeslagen.</translation>
    </message>
    <message>
        <source>Cannot reach the database {url}: {error}</source>
        <translation>Kan de databank {url} niet bereiken: {error}</translation>
    </message>
    <message>
        <source>A number is too large for the database{where}; nothing was saved. Use a smaller value.</source>
        <translation>Een getal is te groot voor de databank{where}; er is niets opgeslagen. Gebruik een kleinere waarde.</translation>
    </message>
    <message>
        <source>No permission to change the database file {file}: this account may not write the file or its folder. Nothing was saved; ask whoever manages this computer to give you write access.</source>
        <translation>Geen toestemming om het databankbestand {file} te wijzigen: deze account mag niet schrijven in het bestand of de map ervan. Er is niets opgeslagen; vraag de beheerder van deze computer om schrijfrechten.</translation>
    </message>
    <message>
        <source>The database{where} is read-only here: it can be read but not changed. Nothing was saved.</source>
        <translation>De databank{where} is hier alleen-lezen: ze kan worden gelezen, maar niet gewijzigd. Er is niets opgeslagen.</translation>
    </message>
    <message>
        <source>The database{where} refused: this database account has no permission for it ({detail}). Nothing was saved; ask the database administrator for the rights pmdesk needs.</source>
        <translation>De databank{where} weigerde: deze databankaccount heeft er geen toestemming voor ({detail}). Er is niets opgeslagen; vraag de databankbeheerder om de rechten die pmdesk nodig heeft.</translation>
    </message>
    <message>
        <source>The database {url} refused the work: {error}. Nothing was saved.</source>
        <translation>De databank {url} weigerde het werk: {error}. Er is niets opgeslagen.</translation>
    </message>
    <message>
        <source>The database {url} is busy: another program has kept it locked for more than {seconds} seconds. Nothing was saved; try again.</source>
        <extracomment>SQLite: how long a write waits for another program&apos;s lock (None: the default).</extracomment>
        <translation>De databank {url} is bezet: een ander programma houdt ze al meer dan {seconds} seconden vergrendeld. Er is niets opgeslagen; probeer het opnieuw.</translation>
    </message>
</context>
<context>
    <name>delivery</name>
    <message>
        <source>settings</source>
        <extracomment>Not a delivery step: a message with nowhere to go (no valid number for the office&apos;s region), which the relay finds before sending and which says nothing about the method&apos;s health. Why a trust alert did not go out: codes go by text message (alerts by e-mail only) … … or there was nobody to send it to. The recipient&apos;s language (docs/i18n.md): the person&apos;s Personnel language, else the workstation&apos;s; the words of the message follow it (``pmdesk.core.delivery.message``).</extracomment>
        <translation>instellingen</translation>
    </message>
    <message>
        <source>getting a token</source>
        <translation>een token ophalen</translation>
    </message>
    <message>
        <source>connecting</source>
        <translation>verbinden</translation>
    </message>
    <message>
        <source>signing in</source>
        <translation>aanmelden</translation>
    </message>
    <message>
        <source>sending</source>
        <translation>verzenden</translation>
    </message>
    <message>
        <source>Failed at: {step} ({key}). {error}</source>
        <translation>Mislukt bij: {step} ({key}). {error}</translation>
    </message>
    <message>
        <source>Unknown delivery method &apos;{method}&apos;.</source>
        <translation>Onbekende verzendmethode &apos;{method}&apos;.</translation>
    </message>
    <message>
        <source>Enter the Microsoft Entra tenant ID.</source>
        <translation>Vul de tenant-ID van Microsoft Entra in.</translation>
    </message>
    <message>
        <source>Enter the app&apos;s client ID.</source>
        <translation>Vul de client-ID van de app in.</translation>
    </message>
    <message>
        <source>Enter the certificate&apos;s thumbprint.</source>
        <translation>Vul de vingerafdruk van het certificaat in.</translation>
    </message>
    <message>
        <source>Enter the From address (the mailbox that sends the codes).</source>
        <translation>Vul het afzenderadres in (de mailbox die de codes verstuurt).</translation>
    </message>
    <message>
        <source>Store the service account&apos;s JSON key first.</source>
        <translation>Bewaar eerst de JSON-sleutel van het serviceaccount.</translation>
    </message>
    <message>
        <source>Enter the Account SID.</source>
        <translation>Vul de Account SID in.</translation>
    </message>
    <message>
        <source>Enter the API key.</source>
        <translation>Vul de API-sleutel in.</translation>
    </message>
    <message>
        <source>Enter the sender of text messages (a number or a sender name).</source>
        <translation>Vul de afzender van de sms&apos;en in (een nummer of een afzendernaam).</translation>
    </message>
    <message>
        <source>Outbox folder (for trying pmdesk out; nothing is sent)</source>
        <translation>Outboxmap (om pmdesk uit te proberen; er wordt niets verzonden)</translation>
    </message>
    <message>
        <source>E-mail: mail server (SMTP) with a password</source>
        <translation>E-mail: mailserver (SMTP) met een wachtwoord</translation>
    </message>
    <message>
        <source>E-mail: Microsoft 365 (SMTP with OAuth)</source>
        <translation>E-mail: Microsoft 365 (SMTP met OAuth)</translation>
    </message>
    <message>
        <source>E-mail: Google Workspace (SMTP with a service account)</source>
        <translation>E-mail: Google Workspace (SMTP met een serviceaccount)</translation>
    </message>
    <message>
        <source>E-mail: Microsoft Graph</source>
        <translation>E-mail: Microsoft Graph</translation>
    </message>
    <message>
        <source>Text message: pmdesk SMS gateway</source>
        <translation>Sms: sms-gateway van pmdesk</translation>
    </message>
    <message>
        <source>Text message: Twilio</source>
        <translation>Sms: Twilio</translation>
    </message>
    <message>
        <source>Text message: Vonage</source>
        <translation>Sms: Vonage</translation>
    </message>
    <message>
        <source>Text message: CM.com</source>
        <translation>Sms: CM.com</translation>
    </message>
    <message>
        <source>Outbox folder</source>
        <translation>Outboxmap</translation>
    </message>
    <message>
        <source>Mail server</source>
        <translation>Mailserver</translation>
    </message>
    <message>
        <source>Port</source>
        <translation>Poort</translation>
    </message>
    <message>
        <source>Security</source>
        <translation>Beveiliging</translation>
    </message>
    <message>
        <source>User name</source>
        <translation>Gebruikersnaam</translation>
    </message>
    <message>
        <source>From address</source>
        <translation>Afzender</translation>
    </message>
    <message>
        <source>Gateway URL</source>
        <translation>Gateway-URL</translation>
    </message>
    <message>
        <source>Directory (tenant) ID</source>
        <translation>Directory-ID (tenant)</translation>
    </message>
    <message>
        <source>Application (client) ID</source>
        <translation>Toepassings-ID (client)</translation>
    </message>
    <message>
        <source>Sign in with</source>
        <translation>Aanmelden met</translation>
    </message>
    <message>
        <source>Certificate thumbprint</source>
        <translation>Vingerafdruk certificaat</translation>
    </message>
    <message>
        <source>Service account</source>
        <translation>Serviceaccount</translation>
    </message>
    <message>
        <source>Account</source>
        <translation>Account</translation>
    </message>
    <message>
        <source>Sender</source>
        <translation>Afzender</translation>
    </message>
    <message>
        <source>Numbers without country code are in</source>
        <translation>Nummers zonder landcode zijn van</translation>
    </message>
    <message>
        <source>Empty: the data folder of each workstation.</source>
        <translation>Leeg: de gegevensmap van elke werkpost.</translation>
    </message>
    <message>
        <source>m365 and google: leave empty for smtp.office365.com / smtp.gmail.com.</source>
        <translation>m365 en google: leeg laten voor smtp.office365.com / smtp.gmail.com.</translation>
    </message>
    <message>
        <source>587 with STARTTLS, 465 with TLS.</source>
        <translation>587 met STARTTLS, 465 met TLS.</translation>
    </message>
    <message>
        <source>Never unencrypted, except to a relay on this computer.</source>
        <translation>Nooit onversleuteld, behalve naar een relay op deze computer.</translation>
    </message>
    <message>
        <source>Only if the mail server needs a login.</source>
        <translation>Alleen als de mailserver een aanmelding vraagt.</translation>
    </message>
    <message>
        <source>Microsoft 365, Google, Graph: the mailbox that sends the codes.</source>
        <translation>Microsoft 365, Google, Graph: de mailbox die de codes verstuurt.</translation>
    </message>
    <message>
        <source>The https:// address your gateway gives you.</source>
        <translation>Het https://-adres dat uw gateway u geeft.</translation>
    </message>
    <message>
        <source>Entra admin center → Overview → Tenant ID.</source>
        <translation>Entra-beheercentrum → Overzicht → Tenant-ID.</translation>
    </message>
    <message>
        <source>Entra admin center → App registrations → your app → Application (client) ID.</source>
        <translation>Entra-beheercentrum → App-registraties → uw app → Toepassings-ID (client).</translation>
    </message>
    <message>
        <source>A client secret, or a certificate uploaded to the app registration.</source>
        <translation>Een clientgeheim, of een certificaat dat naar de app-registratie is geüpload.</translation>
    </message>
    <message>
        <source>Entra admin center → App registrations → your app → Certificates &amp; secrets → Thumbprint.</source>
        <translation>Entra-beheercentrum → App-registraties → uw app → Certificaten en geheimen → Vingerafdruk.</translation>
    </message>
    <message>
        <source>Taken from the service account&apos;s JSON key (Google Cloud console → IAM &amp; Admin → Service accounts → Keys).</source>
        <translation>Uit de JSON-sleutel van het serviceaccount (Google Cloud-console → IAM en beheer → Serviceaccounts → Sleutels).</translation>
    </message>
    <message>
        <source>Twilio: Console → Account Info → Account SID. Vonage: Dashboard → API key.</source>
        <translation>Twilio: Console → Account Info → Account SID. Vonage: Dashboard → API key.</translation>
    </message>
    <message>
        <source>A number (+32…), a name of up to 11 letters and digits, or (Twilio) a Messaging Service SID (MG…).</source>
        <translation>Een nummer (+32…), een naam van hoogstens 11 letters en cijfers, of (Twilio) een Messaging Service SID (MG…).</translation>
    </message>
    <message>
        <source>A country code such as BE or NL.</source>
        <translation>Een landcode zoals BE of NL.</translation>
    </message>
    <message>
        <source>The mail account&apos;s password.</source>
        <translation>Het wachtwoord van de mailaccount.</translation>
    </message>
    <message>
        <source>Client secret: Certificates &amp; secrets → the secret&apos;s Value (not its ID). Certificate: its PEM private key.</source>
        <translation>Clientgeheim: Certificaten en geheimen → de Waarde van het geheim (niet de ID). Certificaat: de persoonlijke PEM-sleutel.</translation>
    </message>
    <message>
        <source>The service account&apos;s JSON key file, as downloaded.</source>
        <translation>Het JSON-sleutelbestand van het serviceaccount, zoals gedownload.</translation>
    </message>
    <message>
        <source>The gateway&apos;s bearer token.</source>
        <translation>Het bearer-token van de gateway.</translation>
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
        <translation>CM.com-portaal → uw messaging gateway → product token.</translation>
    </message>
    <message>
        <source>Security codes could not be sent recently. If yours does not arrive, tell your administrator.</source>
        <translation>Beveiligingscodes konden onlangs niet worden verzonden. Komt uw code niet aan, verwittig dan uw beheerder.</translation>
    </message>
    <message>
        <source>last success {when}</source>
        <translation>laatst gelukt {when}</translation>
    </message>
    <message>
        <source>no success yet</source>
        <translation>nog niet gelukt</translation>
    </message>
    <message>
        <source>The last security code could not be sent ({at}, failed at: {step}; {since}): {message}</source>
        <translation>De laatste beveiligingscode kon niet worden verzonden ({at}, mislukt bij: {step}; {since}): {message}</translation>
    </message>
    <message>
        <source>The last security code could not be sent ({at}; {since}): {message}</source>
        <translation>De laatste beveiligingscode kon niet worden verzonden ({at}; {since}): {message}</translation>
    </message>
    <message>
        <source>The last {n} security codes could not be sent ({at}, failed at: {step}; {since}): {message}</source>
        <translation>De laatste {n} beveiligingscodes konden niet worden verzonden ({at}, mislukt bij: {step}; {since}): {message}</translation>
    </message>
    <message>
        <source>The last {n} security codes could not be sent ({at}; {since}): {message}</source>
        <translation>De laatste {n} beveiligingscodes konden niet worden verzonden ({at}; {since}): {message}</translation>
    </message>
    <message>
        <source>{name} has no usable e-mail address, so no code can be sent.</source>
        <translation>{name} heeft geen bruikbaar e-mailadres; er kan dus geen code worden verzonden.</translation>
    </message>
    <message>
        <source>This person has no usable e-mail address, so no code can be sent.</source>
        <translation>Deze persoon heeft geen bruikbaar e-mailadres; er kan dus geen code worden verzonden.</translation>
    </message>
    <message>
        <source>{outbox}: {folder}</source>
        <translation>{outbox}: {folder}</translation>
    </message>
    <message>
        <source>Could not write to the outbox folder {folder}: {why}.</source>
        <translation>Kon niet naar de outboxmap {folder} schrijven: {why}.</translation>
    </message>
    <message>
        <source>The outbox folder {folder} cannot be created or written here: {why}.</source>
        <translation>De outboxmap {folder} kan hier niet worden aangemaakt of beschreven: {why}.</translation>
    </message>
    <message>
        <source>Enter the address (URL) of the SMS gateway.</source>
        <translation>Vul het adres (URL) van de sms-gateway in.</translation>
    </message>
    <message>
        <source>&apos;{url}&apos; is not a valid SMS gateway address.</source>
        <translation>&apos;{url}&apos; is geen geldig adres van een sms-gateway.</translation>
    </message>
    <message>
        <source>The SMS gateway address must start with https:// and name a server, e.g. https://sms.example.com/send.</source>
        <translation>Het adres van de sms-gateway moet met https:// beginnen en een server noemen, bv. https://sms.example.com/send.</translation>
    </message>
    <message>
        <source>Do not put a user name or password in the SMS gateway address; the token is kept in the keyring.</source>
        <translation>Zet geen gebruikersnaam of wachtwoord in het adres van de sms-gateway; het token wordt in de sleutelhanger bewaard.</translation>
    </message>
    <message>
        <source>The SMS gateway {host} must be reached over https://; plain http:// is allowed only to a gateway on this computer.</source>
        <translation>De sms-gateway {host} moet via https:// bereikt worden; gewoon http:// mag alleen naar een gateway op deze computer.</translation>
    </message>
    <message>
        <source>Text message via the SMS gateway {where} (HTTPS)</source>
        <translation>Sms via de sms-gateway {where} (HTTPS)</translation>
    </message>
    <message>
        <source>Text message via the SMS gateway {where} (HTTP, local gateway only)</source>
        <translation>Sms via de sms-gateway {where} (HTTP, alleen een lokale gateway)</translation>
    </message>
    <message>
        <source>{name} has no usable mobile number, so no code can be sent by text message.</source>
        <translation>{name} heeft geen bruikbaar gsm-nummer; er kan dus geen code per sms worden verzonden.</translation>
    </message>
    <message>
        <source>This person has no usable mobile number, so no code can be sent by text message.</source>
        <translation>Deze persoon heeft geen bruikbaar gsm-nummer; er kan dus geen code per sms worden verzonden.</translation>
    </message>
    <message>
        <source>Enter the mail server (SMTP host).</source>
        <translation>Vul de mailserver (SMTP-host) in.</translation>
    </message>
    <message>
        <source>&apos;{host}&apos; is not a valid mail server name.</source>
        <translation>&apos;{host}&apos; is geen geldige naam van een mailserver.</translation>
    </message>
    <message>
        <source>The mail server port must be between 1 and 65535, not {port}.</source>
        <translation>De poort van de mailserver moet tussen 1 en 65535 liggen, niet {port}.</translation>
    </message>
    <message>
        <source>The mail security must be STARTTLS, TLS or none.</source>
        <translation>De beveiliging van de mail moet STARTTLS, TLS of geen zijn.</translation>
    </message>
    <message>
        <source>Unencrypted SMTP is allowed only to a mail server on this computer (localhost), not to {host}: choose STARTTLS or TLS.</source>
        <translation>Onversleutelde SMTP mag alleen naar een mailserver op deze computer (localhost), niet naar {host}: kies STARTTLS of TLS.</translation>
    </message>
    <message>
        <source>Enter the From address for security-code e-mails.</source>
        <translation>Vul het afzenderadres van de e-mails met beveiligingscodes in.</translation>
    </message>
    <message>
        <source>From address: {why}</source>
        <translation>Afzenderadres: {why}</translation>
    </message>
    <message>
        <source>E-mail via {provider} ({where}, OAuth as {mailbox})</source>
        <translation>E-mail via {provider} ({where}, OAuth als {mailbox})</translation>
    </message>
    <message>
        <source>E-mail via {where}</source>
        <translation>E-mail via {where}</translation>
    </message>
    <message>
        <source>E-mail via Microsoft Graph (HTTPS, from {mailbox})</source>
        <translation>E-mail via Microsoft Graph (HTTPS, vanaf {mailbox})</translation>
    </message>
    <message>
        <source>Text message via {provider} (HTTPS, from {sender})</source>
        <translation>Sms via {provider} (HTTPS, vanaf {sender})</translation>
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
        <translation>U bent niet aangemeld, of uw sessie is beëindigd: meld u opnieuw aan.</translation>
    </message>
</context>
<context>
    <name>groups</name>
    <message>
        <source>The group &apos;{name}&apos; cannot be deleted: 1 person is still in it. Move them to another group in Maintenance → Personnel first.</source>
        <translation>De groep &apos;{name}&apos; kan niet worden verwijderd: er zit nog 1 persoon in. Verplaats die eerst naar een andere groep in Onderhoud → Personeel.</translation>
    </message>
    <message>
        <source>The group &apos;{name}&apos; cannot be deleted: {count} people are still in it. Move them to another group in Maintenance → Personnel first.</source>
        <translation>De groep &apos;{name}&apos; kan niet worden verwijderd: er zitten nog {count} personen in. Verplaats hen eerst naar een andere groep in Onderhoud → Personeel.</translation>
    </message>
    <message>
        <source>The group name</source>
        <translation>De groepsnaam</translation>
    </message>
    <message>
        <source>Unknown module: {modules}.</source>
        <translation>Onbekende module: {modules}.</translation>
    </message>
    <message>
        <source>This group was changed on another workstation at the same moment. Reload it and make your change again.</source>
        <translation>Deze groep werd op hetzelfde moment op een andere werkpost gewijzigd. Laad ze opnieuw en breng uw wijziging opnieuw aan.</translation>
    </message>
    <message>
        <source>This user group no longer exists (another workstation deleted it).</source>
        <translation>Deze gebruikersgroep bestaat niet meer (een andere werkpost heeft ze verwijderd).</translation>
    </message>
    <message>
        <source>The group &apos;{name}&apos; was changed on another workstation since you opened it. Reload it to see the current permissions, then make your change again.</source>
        <translation>De groep &apos;{name}&apos; werd op een andere werkpost gewijzigd sinds u hem opende. Laad hem opnieuw om de huidige machtigingen te zien en breng dan uw wijziging opnieuw aan.</translation>
    </message>
    <message>
        <source>There is already a group called &apos;{name}&apos;.</source>
        <translation>Er bestaat al een groep met de naam &apos;{name}&apos;.</translation>
    </message>
    <message>
        <source>There is already a group with this name (just created elsewhere).</source>
        <translation>Er bestaat al een groep met deze naam (zonet elders aangemaakt).</translation>
    </message>
</context>
<context>
    <name>helpdesk</name>
    <message>
        <source>You cannot issue a helpdesk code for yourself: it would bypass your own second factor.</source>
        <translation>U kunt geen helpdeskcode voor uzelf aanmaken: daarmee zou u uw eigen tweede stap omzeilen.</translation>
    </message>
    <message>
        <source>This person has no login, so a helpdesk code would be of no use.</source>
        <translation>Deze persoon heeft geen gebruikersnaam, dus een helpdeskcode heeft geen zin.</translation>
    </message>
    <message>
        <source>A reason or ticket reference is required.</source>
        <translation>Een reden of ticketnummer is verplicht.</translation>
    </message>
    <message>
        <source>A helpdesk code is valid for {low} to {high} minutes.</source>
        <translation>Een helpdeskcode is {low} tot {high} minuten geldig.</translation>
    </message>
    <message>
        <source>The reason</source>
        <translation>De reden</translation>
    </message>
    <message>
        <source>This person no longer exists.</source>
        <translation>Deze persoon bestaat niet meer.</translation>
    </message>
</context>
<context>
    <name>language</name>
    <message>
        <source>You are no longer in Personnel.</source>
        <translation>U staat niet meer in Personeel.</translation>
    </message>
    <message>
        <source>This language is not in the database.</source>
        <translation>Deze taal staat niet in de databank.</translation>
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
        <translation>{hours} u {minutes} min</translation>
    </message>
    <message>
        <source>{hours} h</source>
        <translation>{hours} u</translation>
    </message>
</context>
<context>
    <name>login_results</name>
    <message>
        <source>The username or password is incorrect, or the account is temporarily locked.</source>
        <translation>De gebruikersnaam of het wachtwoord is onjuist, of de account is tijdelijk geblokkeerd.</translation>
    </message>
    <message>
        <source>Two-step authentication is on and your account has no e-mail address. Ask an administrator to add one in Maintenance → Personnel.</source>
        <translation>Aanmelden in twee stappen staat aan en uw account heeft geen e-mailadres. Vraag een beheerder om er een toe te voegen in Onderhoud → Personeel.</translation>
    </message>
    <message>
        <source>Two-step authentication is on and your account has no mobile phone number. Ask an administrator to add one in Maintenance → Personnel.</source>
        <translation>Aanmelden in twee stappen staat aan en uw account heeft geen gsm-nummer. Vraag een beheerder om er een toe te voegen in Onderhoud → Personeel.</translation>
    </message>
    <message>
        <source>A security code was sent less than {interval} s ago. Sign in again in {seconds} s to get a new one.</source>
        <translation>Er werd minder dan {interval} s geleden een beveiligingscode verzonden. Meld u over {seconds} s opnieuw aan om een nieuwe te krijgen.</translation>
    </message>
    <message>
        <source>Too many wrong security codes: this code no longer works. Sign in again to get a new one.</source>
        <translation>Te veel foute beveiligingscodes: deze code werkt niet meer. Meld u opnieuw aan om een nieuwe te krijgen.</translation>
    </message>
    <message>
        <source>The security code is not correct. 1 attempt left.</source>
        <translation>De beveiligingscode is niet correct. Nog 1 poging.</translation>
    </message>
    <message>
        <source>The security code is not correct. {count} attempts left.</source>
        <translation>De beveiligingscode is niet correct. Nog {count} pogingen.</translation>
    </message>
    <message>
        <source>The security code has expired. Send a new code, or sign in again.</source>
        <translation>De beveiligingscode is verlopen. Verzend een nieuwe code, of meld u opnieuw aan.</translation>
    </message>
    <message>
        <source>This security code has already been used. Sign in again.</source>
        <translation>Deze beveiligingscode werd al gebruikt. Meld u opnieuw aan.</translation>
    </message>
    <message>
        <source>This login attempt was replaced by a newer sign-in. Use the newest code, or sign in again.</source>
        <translation>Deze aanmeldpoging werd vervangen door een nieuwere aanmelding. Gebruik de nieuwste code, of meld u opnieuw aan.</translation>
    </message>
    <message>
        <source>This login attempt is no longer valid. Sign in again.</source>
        <translation>Deze aanmeldpoging is niet meer geldig. Meld u opnieuw aan.</translation>
    </message>
    <message>
        <source>A new code can be sent in {seconds} s.</source>
        <translation>Over {seconds} s kan een nieuwe code worden verzonden.</translation>
    </message>
</context>
<context>
    <name>mail</name>
    <message>
        <source>pmdesk security code</source>
        <translation>pmdesk-beveiligingscode</translation>
    </message>
    <message>
        <source>pmdesk security code (test)</source>
        <translation>pmdesk-beveiligingscode (test)</translation>
    </message>
    <message>
        <source>pmdesk: new trusted address for {login}</source>
        <translation>pmdesk: nieuw vertrouwd IP-adres voor {login}</translation>
    </message>
    <message>
        <source>1 minute</source>
        <translation>1 minuut</translation>
    </message>
    <message>
        <source>{n} minutes</source>
        <translation>{n} minuten</translation>
    </message>
    <message>
        <source>an unknown address</source>
        <translation>een onbekend adres</translation>
    </message>
    <message>
        <source>an unknown workstation</source>
        <translation>een onbekende werkpost</translation>
    </message>
    <message>
        <source>Hello {name},</source>
        <translation>Beste {name},</translation>
    </message>
    <message>
        <source>Hello,</source>
        <translation>Goedendag,</translation>
    </message>
    <message>
        <source>Your pmdesk security code is:</source>
        <translation>Uw pmdesk-beveiligingscode is:</translation>
    </message>
    <message>
        <source>It is valid for {minutes} and can be used only once.
It was requested from the address {address} on the workstation {workstation}.</source>
        <translation>Hij is {minutes} geldig en kan maar één keer gebruikt worden.
Hij werd aangevraagd vanaf het adres {address} op de werkpost {workstation}.</translation>
    </message>
    <message>
        <source>If this was not you:
  - do not share this code with anyone, not even someone who says they are
    from IT support: nobody will ever ask you for it;
  - tell your administrator;
  - change your password.</source>
        <translation>Was u dit niet?
  - geef deze code aan niemand, ook niet aan iemand die zegt dat hij van
    de IT-dienst is: niemand zal u er ooit om vragen;
  - verwittig uw beheerder;
  - wijzig uw wachtwoord.</translation>
    </message>
    <message>
        <source>Example code (a test: it signs nobody in):</source>
        <translation>Voorbeeldcode (een test: hiermee wordt niemand aangemeld):</translation>
    </message>
    <message>
        <source>THIS IS A TEST. An administrator sent this message from pmdesk to check that
security codes reach you. You do not need to do anything.</source>
        <translation>DIT IS EEN TEST. Een beheerder heeft u dit bericht vanuit pmdesk gestuurd om na te
gaan of beveiligingscodes u bereiken. U hoeft niets te doen.</translation>
    </message>
    <message>
        <source>Real security codes come in a message like this one when someone signs in
from an address that is not trusted.
This test was sent from the address {address} on the workstation {workstation}.</source>
        <translation>Echte beveiligingscodes komen in een bericht als dit wanneer iemand zich aanmeldt
vanaf een adres dat niet vertrouwd is.
Deze test werd verstuurd vanaf het adres {address} op de werkpost {workstation}.</translation>
    </message>
    <message>
        <source>Never share a real code with anyone, not even someone who says they are
from IT support: nobody will ever ask you for it.</source>
        <translation>Geef een echte code nooit aan iemand, ook niet aan iemand die zegt dat hij van
de IT-dienst is: niemand zal u er ooit om vragen.</translation>
    </message>
    <message>
        <source>Address:</source>
        <translation>Adres:</translation>
    </message>
    <message>
        <source>When:</source>
        <translation>Wanneer:</translation>
    </message>
    <message>
        <source>Workstation:</source>
        <translation>Werkpost:</translation>
    </message>
    <message>
        <source>local time</source>
        <translation>lokale tijd</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>onbekend</translation>
    </message>
    <message>
        <source>The address {address} was trusted for the pmdesk login {login}:
signing in from there no longer asks for a security code.</source>
        <translation>Het adres {address} werd vertrouwd voor de pmdesk-gebruikersnaam {login}:
wie zich van daaruit aanmeldt, krijgt geen beveiligingscode meer gevraagd.</translation>
    </message>
    <message>
        <source>This address is outside the office networks.</source>
        <translation>Dit adres ligt buiten de kantoornetwerken.</translation>
    </message>
    <message>
        <source>Not you? Call the helpdesk (reference #{reference}).</source>
        <translation>Was u dit niet? Bel de helpdesk (referentie #{reference}).</translation>
    </message>
    <message>
        <source>TEST - pmdesk security code: {code} (an example: it signs nobody in). Codes reach this phone. Sent from {address} ({workstation}).</source>
        <translation>TEST - pmdesk-beveiligingscode: {code} (een voorbeeld: hiermee wordt niemand aangemeld). Codes bereiken deze gsm. Verstuurd vanaf {address} ({workstation}).</translation>
    </message>
    <message>
        <source>TEST - pmdesk security code. Codes reach this phone. Sent from {address} ({workstation}).</source>
        <translation>TEST - pmdesk-beveiligingscode. Codes bereiken deze gsm. Verstuurd vanaf {address} ({workstation}).</translation>
    </message>
    <message>
        <source>pmdesk security code: {code}. Valid {minutes}, once. Asked from {address} ({workstation}). Not you? Do not share it, tell your administrator and change your password.</source>
        <translation>pmdesk-beveiligingscode: {code}. {minutes} geldig, eenmalig. Aangevraagd vanaf {address} ({workstation}). Was u dit niet? Geef hem aan niemand, verwittig uw beheerder en wijzig uw wachtwoord.</translation>
    </message>
    <message>
        <source>unknown workstation</source>
        <translation>onbekende werkpost</translation>
    </message>
</context>
<context>
    <name>migrate</name>
    <message>
        <source>This database was upgraded by a newer pmdesk (schema {schema}). Install the newer pmdesk on this workstation; this version cannot use it safely.</source>
        <translation>Deze databank werd bijgewerkt door een nieuwere pmdesk (schema {schema}). Installeer de nieuwere pmdesk op deze werkpost; deze versie kan de databank niet veilig gebruiken.</translation>
    </message>
    <message>
        <source>Another workstation is upgrading the database; try again.</source>
        <translation>Een andere werkpost is de databank aan het bijwerken; probeer het opnieuw.</translation>
    </message>
</context>
<context>
    <name>modules</name>
    <message>
        <source>Job</source>
        <translation>Opdracht</translation>
    </message>
    <message>
        <source>Invoicing</source>
        <translation>Facturatie</translation>
    </message>
    <message>
        <source>Workshop</source>
        <translation>Werkplaats</translation>
    </message>
    <message>
        <source>Maintenance</source>
        <translation>Onderhoud</translation>
    </message>
    <message>
        <source>Planning</source>
        <translation>Planning</translation>
    </message>
    <message>
        <source>Car Fleet</source>
        <translation>Wagenpark</translation>
    </message>
    <message>
        <source>Report</source>
        <translation>Rapport</translation>
    </message>
    <message>
        <source>System</source>
        <translation>Systeem</translation>
    </message>
    <message>
        <source>System → Custom Fields</source>
        <translation>Systeem → Eigen velden</translation>
    </message>
    <message>
        <source>System → Log</source>
        <translation>Systeem → Logboek</translation>
    </message>
    <message>
        <source>System → Shortcut</source>
        <translation>Systeem → Snelkoppeling</translation>
    </message>
    <message>
        <source>System → Vault</source>
        <translation>Systeem → Kluis</translation>
    </message>
    <message>
        <source>System → Security</source>
        <translation>Systeem → Beveiliging</translation>
    </message>
</context>
<context>
    <name>office_networks</name>
    <message>
        <source>Outside office networks</source>
        <extracomment>What a new database starts with (set at first run; an upgraded one keeps ``anywhere``). The network column of an address in no office network.</extracomment>
        <translation>Buiten de kantoornetwerken</translation>
    </message>
    <message>
        <source>Trusting this address is not allowed: it is outside the office networks.</source>
        <translation>Dit adres vertrouwen is niet toegestaan: het ligt buiten de kantoornetwerken.</translation>
    </message>
    <message>
        <source>Trusting this address is not allowed: trusting addresses is switched off.</source>
        <translation>Dit adres vertrouwen is niet toegestaan: het vertrouwen van adressen staat uit.</translation>
    </message>
    <message>
        <source>The trust policy is one of: {choices}.</source>
        <translation>Het vertrouwensbeleid is een van: {choices}.</translation>
    </message>
    <message>
        <source>1 address stops being trusted, 1 person affected</source>
        <translation>1 adres wordt niet langer vertrouwd, 1 persoon getroffen</translation>
    </message>
    <message>
        <source>1 address stops being trusted, {people} people affected</source>
        <translation>1 adres wordt niet langer vertrouwd, {people} personen getroffen</translation>
    </message>
    <message>
        <source>{addresses} addresses stop being trusted, 1 person affected</source>
        <translation>{addresses} adressen worden niet langer vertrouwd, 1 persoon getroffen</translation>
    </message>
    <message>
        <source>{addresses} addresses stop being trusted, {people} people affected</source>
        <translation>{addresses} adressen worden niet langer vertrouwd, {people} personen getroffen</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Naam</translation>
    </message>
    <message>
        <source>{network} is listed twice.</source>
        <translation>{network} staat twee keer in de lijst.</translation>
    </message>
    <message>
        <source>Give at least one range, such as 10.1.0.0/16.</source>
        <translation>Geef minstens één bereik op, zoals 10.1.0.0/16.</translation>
    </message>
    <message>
        <source>The ranges can have at most {count} characters.</source>
        <translation>De bereiken mogen hoogstens {count} tekens bevatten.</translation>
    </message>
    <message>
        <source>An office network named &apos;{name}&apos; exists.</source>
        <translation>Er bestaat al een kantoornetwerk met de naam &apos;{name}&apos;.</translation>
    </message>
    <message>
        <source>There is no office network named &apos;{name}&apos;.</source>
        <translation>Er is geen kantoornetwerk met de naam &apos;{name}&apos;.</translation>
    </message>
</context>
<context>
    <name>passwords</name>
    <message>
        <source>The password must have at least {count} characters.</source>
        <translation>Het wachtwoord moet minstens {count} tekens bevatten.</translation>
    </message>
    <message>
        <source>The password must have at most {count} characters.</source>
        <translation>Het wachtwoord mag hoogstens {count} tekens bevatten.</translation>
    </message>
    <message>
        <source>The password cannot contain a NUL character.</source>
        <translation>Het wachtwoord mag geen NUL-teken bevatten.</translation>
    </message>
    <message>
        <source>The password contains bytes that are not valid text (check the input encoding).</source>
        <translation>Het wachtwoord bevat bytes die geen geldige tekst zijn (controleer de invoercodering).</translation>
    </message>
    <message>
        <source>The passwords do not match.</source>
        <translation>De wachtwoorden komen niet overeen.</translation>
    </message>
</context>
<context>
    <name>permissions</name>
    <message>
        <source>Read</source>
        <extracomment>A right as the refusals name it (the grid&apos;s column titles).</extracomment>
        <translation>Bekijken</translation>
    </message>
    <message>
        <source>Edit</source>
        <translation>Bewerken</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Verwijderen</translation>
    </message>
    <message>
        <source>Your user group may not see {module}. Ask an administrator to grant {module} {right} in System → Permissions.</source>
        <translation>Uw gebruikersgroep mag {module} niet bekijken. Vraag een beheerder om {module} {right} toe te kennen in Systeem → Machtigingen.</translation>
    </message>
    <message>
        <source>Your user group may not change {module}. Ask an administrator to grant {module} {right} in System → Permissions.</source>
        <translation>Uw gebruikersgroep mag {module} niet wijzigen. Vraag een beheerder om {module} {right} toe te kennen in Systeem → Machtigingen.</translation>
    </message>
    <message>
        <source>Your user group may not delete in {module}. Ask an administrator to grant {module} {right} in System → Permissions.</source>
        <translation>Uw gebruikersgroep mag niets verwijderen in {module}. Vraag een beheerder om {module} {right} toe te kennen in Systeem → Machtigingen.</translation>
    </message>
    <message>
        <source>Permissions (System)</source>
        <extracomment>The modules somebody must keep administering (Read and Edit), as the refusal names them: System → Security, and System, whose Permissions screen gives every right.</extracomment>
        <translation>Machtigingen (Systeem)</translation>
    </message>
    <message>
        <source>This change would leave nobody able to administer {modules}. At least one person with a login and password must keep Read and Edit there; give another person that right first, then try again.</source>
        <extracomment>LastAdministratorError&apos;s sentence, ``{}`` standing for the modules left without anyone (the server&apos;s check says the same words: pmdesk/core/server/rules_sql.py).</extracomment>
        <translation>Na deze wijziging zou niemand {modules} nog kunnen beheren. Minstens één persoon met een gebruikersnaam en wachtwoord moet daar Bekijken en Bewerken behouden; geef eerst iemand anders dat recht en probeer het dan opnieuw.</translation>
    </message>
    <message>
        <source>{one} and {other}</source>
        <translation>{one} en {other}</translation>
    </message>
    <message>
        <source>{module} {right}</source>
        <translation>{module} {right}</translation>
    </message>
    <message>
        <source>{rights} and {count} more</source>
        <translation>{rights} en nog {count} andere</translation>
    </message>
    <message>
        <source>You cannot {doing}: that user group has rights your own group lacks ({rights}). Ask an administrator who has them.</source>
        <translation>U kunt niet {doing}: die gebruikersgroep heeft rechten die uw eigen groep mist ({rights}). Vraag het aan een beheerder die ze heeft.</translation>
    </message>
</context>
<context>
    <name>personnel</name>
    <message>
        <source>Lastname</source>
        <extracomment>The form&apos;s free-text fields: (field, its name in messages, its longest length).</extracomment>
        <translation>Naam</translation>
    </message>
    <message>
        <source>Forename</source>
        <translation>Voornaam</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>Nummer</translation>
    </message>
    <message>
        <source>Street</source>
        <translation>Straat</translation>
    </message>
    <message>
        <source>Postcode</source>
        <translation>Postcode</translation>
    </message>
    <message>
        <source>City</source>
        <translation>Gemeente</translation>
    </message>
    <message>
        <source>Country</source>
        <translation>Land</translation>
    </message>
    <message>
        <source>Phone</source>
        <translation>Telefoon</translation>
    </message>
    <message>
        <source>Mobile</source>
        <translation>Gsm</translation>
    </message>
    <message>
        <source>Enter a last name or a forename.</source>
        <translation>Vul een naam of een voornaam in.</translation>
    </message>
    <message>
        <source>The passwords do not match.</source>
        <translation>De wachtwoorden komen niet overeen.</translation>
    </message>
    <message>
        <source>A new login needs a password.</source>
        <translation>Een nieuwe gebruikersnaam heeft een wachtwoord nodig.</translation>
    </message>
    <message>
        <source>Enter an e-mail address to use it for mail.</source>
        <translation>Vul een e-mailadres in om het voor e-mail te gebruiken.</translation>
    </message>
    <message>
        <source>give a new person that user group</source>
        <translation>een nieuwe persoon die gebruikersgroep geven</translation>
    </message>
    <message>
        <source>An administrator was created meanwhile (perhaps on another workstation). Sign in with that account.</source>
        <translation>Intussen werd een beheerder aangemaakt (misschien op een andere werkpost). Meld u aan met die account.</translation>
    </message>
    <message>
        <source>change this person</source>
        <translation>deze persoon wijzigen</translation>
    </message>
    <message>
        <source>move this person to that user group</source>
        <translation>deze persoon naar die gebruikersgroep verplaatsen</translation>
    </message>
    <message>
        <source>Another workstation saved this person at the same moment. Reload and try again.</source>
        <translation>Een andere werkpost heeft deze persoon op hetzelfde moment opgeslagen. Laad opnieuw en probeer het nog eens.</translation>
    </message>
    <message>
        <source>You cannot delete your own account.</source>
        <translation>U kunt uw eigen account niet verwijderen.</translation>
    </message>
    <message>
        <source>delete this person</source>
        <translation>deze persoon verwijderen</translation>
    </message>
    <message>
        <source>set this person&apos;s password</source>
        <translation>het wachtwoord van deze persoon instellen</translation>
    </message>
    <message>
        <source>That user group no longer exists; choose another.</source>
        <translation>Die gebruikersgroep bestaat niet meer; kies een andere.</translation>
    </message>
    <message>
        <source>That location no longer exists; choose another.</source>
        <translation>Die vestiging bestaat niet meer; kies een andere.</translation>
    </message>
    <message>
        <source>That language no longer exists; choose another.</source>
        <translation>Die taal bestaat niet meer; kies een andere.</translation>
    </message>
    <message>
        <source>That team no longer exists; choose another.</source>
        <translation>Dat team bestaat niet meer; kies een ander.</translation>
    </message>
    <message>
        <source>A person with a login needs a user group.</source>
        <translation>Een persoon met een gebruikersnaam heeft een gebruikersgroep nodig.</translation>
    </message>
    <message>
        <source>This login is already taken.</source>
        <translation>Deze gebruikersnaam is al in gebruik.</translation>
    </message>
    <message>
        <source>This person no longer exists (another workstation deleted it).</source>
        <translation>Deze persoon bestaat niet meer (een andere werkpost heeft hem verwijderd).</translation>
    </message>
    <message>
        <source>{person} was changed on another workstation since you opened it. Your changes are still in the form; compare them with the current values and save again.</source>
        <translation>{person} werd op een andere werkpost gewijzigd sinds u het formulier opende. Uw wijzigingen staan nog in het formulier; vergelijk ze met de huidige waarden en sla opnieuw op.</translation>
    </message>
</context>
<context>
    <name>security</name>
    <message>
        <source>1 person could not receive a security code and would be shut out ({names}). Give them a usable address first, or confirm to turn two-step authentication on anyway.</source>
        <translation>1 persoon zou geen beveiligingscode kunnen ontvangen en zou worden buitengesloten ({names}). Geef eerst een bruikbaar adres op, of bevestig om aanmelden in twee stappen toch aan te zetten.</translation>
    </message>
    <message>
        <source>{count} people could not receive a security code and would be shut out ({names}). Give them a usable address first, or confirm to turn two-step authentication on anyway.</source>
        <translation>{count} personen zouden geen beveiligingscode kunnen ontvangen en zouden worden buitengesloten ({names}). Geef hun eerst een bruikbaar adres, of bevestig om aanmelden in twee stappen toch aan te zetten.</translation>
    </message>
    <message>
        <source>Not usable yet: {problem}</source>
        <translation>Nog niet bruikbaar: {problem}</translation>
    </message>
    <message>
        <source>no valid mobile or phone number</source>
        <translation>geen geldig gsm- of telefoonnummer</translation>
    </message>
    <message>
        <source>no phone number</source>
        <translation>geen telefoonnummer</translation>
    </message>
    <message>
        <source>no e-mail address</source>
        <translation>geen e-mailadres</translation>
    </message>
    <message>
        <source>the e-mail address is not valid</source>
        <translation>het e-mailadres is niet geldig</translation>
    </message>
    <message>
        <source>List the never-trusted addresses as text, such as 10.0.0.5.</source>
        <extracomment>The helpdesk mailbox&apos;s column (a longer text is refused with a message, never cut).</extracomment>
        <translation>Geef de nooit vertrouwde adressen op als tekst, zoals 10.0.0.5.</translation>
    </message>
    <message>
        <source>Never trust: {problem}</source>
        <translation>Nooit vertrouwen: {problem}</translation>
    </message>
    <message>
        <source>Never trust: the list can have at most {count} characters; use networks (10.1.0.0/24) instead of single addresses.</source>
        <translation>Nooit vertrouwen: de lijst mag hoogstens {count} tekens bevatten; gebruik netwerken (10.1.0.0/24) in plaats van losse adressen.</translation>
    </message>
    <message>
        <source>The SMTP port</source>
        <translation>De SMTP-poort</translation>
    </message>
    <message>
        <source>ports</source>
        <translation>poortnummer</translation>
    </message>
    <message>
        <source>Trust an address for</source>
        <translation>Een adres vertrouwen gedurende</translation>
    </message>
    <message>
        <source>days</source>
        <translation>dagen</translation>
    </message>
    <message>
        <source>minutes</source>
        <translation>minuten</translation>
    </message>
    <message>
        <source>{label} must be a whole number of {unit} from {low} to {high}.</source>
        <translation>{label}: geef een geheel getal ({unit}) van {low} tot {high}.</translation>
    </message>
    <message>
        <source>Choose how codes are delivered: outbox folder, e-mail (SMTP, Microsoft 365, Google Workspace, Microsoft Graph) or text message (SMS gateway, Twilio, Vonage, CM.com).</source>
        <translation>Kies hoe codes worden verzonden: outboxmap, e-mail (SMTP, Microsoft 365, Google Workspace, Microsoft Graph) of sms (sms-gateway, Twilio, Vonage, CM.com).</translation>
    </message>
    <message>
        <source>Choose STARTTLS or TLS for the mail server.</source>
        <translation>Kies STARTTLS of TLS voor de mailserver.</translation>
    </message>
    <message>
        <source>Mail without encryption is only allowed to a relay on this machine (localhost); choose STARTTLS or TLS.</source>
        <translation>Mail zonder versleuteling is alleen toegestaan naar een relay op deze computer (localhost); kies STARTTLS of TLS.</translation>
    </message>
    <message>
        <source>The SMTP user name</source>
        <translation>De SMTP-gebruikersnaam</translation>
    </message>
    <message>
        <source>The application (client) ID</source>
        <translation>De toepassings-ID (client-ID)</translation>
    </message>
    <message>
        <source>Choose a client secret or a certificate for the app.</source>
        <translation>Kies een clientgeheim of een certificaat voor de app.</translation>
    </message>
    <message>
        <source>The phone region &apos;{region}&apos; is not a country code such as BE or NL.</source>
        <translation>De telefoonregio &apos;{region}&apos; is geen landcode zoals BE of NL.</translation>
    </message>
    <message>
        <source>Enter the application (client) ID.</source>
        <translation>Vul de toepassings-ID (client-ID) in.</translation>
    </message>
    <message>
        <source>{label} is a GUID such as 00000000-0000-0000-0000-000000000000 (Entra admin center → App registrations → your app → Overview).</source>
        <translation>{label} is een GUID zoals 00000000-0000-0000-0000-000000000000 (Entra-beheercentrum → App-registraties → uw app → Overzicht).</translation>
    </message>
    <message>
        <source>Enter the directory (tenant) ID.</source>
        <translation>Vul de directory-ID (tenant-ID) in.</translation>
    </message>
    <message>
        <source>The directory (tenant) ID is a GUID (Entra admin center → Overview → Tenant ID) or a domain of the tenant such as contoso.onmicrosoft.com.</source>
        <translation>De directory-ID (tenant-ID) is een GUID (Entra-beheercentrum → Overzicht → Tenant-ID) of een domein van de tenant, zoals contoso.onmicrosoft.com.</translation>
    </message>
    <message>
        <source>Enter the certificate&apos;s thumbprint.</source>
        <translation>Vul de vingerafdruk van het certificaat in.</translation>
    </message>
    <message>
        <source>The certificate thumbprint is 40 hexadecimal characters (Entra admin center → App registrations → your app → Certificates &amp; secrets → Thumbprint).</source>
        <translation>De vingerafdruk van het certificaat bestaat uit 40 hexadecimale tekens (Entra-beheercentrum → App-registraties → uw app → Certificaten en geheimen → Vingerafdruk).</translation>
    </message>
    <message>
        <source>Store the service account&apos;s JSON key (it names the account).</source>
        <translation>Sla de JSON-sleutel van de serviceaccount op (die vermeldt de account).</translation>
    </message>
    <message>
        <source>The service account: {problem}</source>
        <translation>De serviceaccount: {problem}</translation>
    </message>
    <message>
        <source>Enter the Twilio Account SID (Twilio Console → Account Info).</source>
        <translation>Vul de Twilio Account SID in (Twilio Console → Account Info).</translation>
    </message>
    <message>
        <source>The Twilio Account SID is AC followed by 32 hexadecimal characters.</source>
        <translation>De Twilio Account SID bestaat uit AC gevolgd door 32 hexadecimale tekens.</translation>
    </message>
    <message>
        <source>Enter the Vonage API key (Vonage API Dashboard → API settings).</source>
        <translation>Vul de Vonage API-sleutel in (Vonage API Dashboard → API settings).</translation>
    </message>
    <message>
        <source>The Vonage API key is a short code of letters and digits.</source>
        <translation>De Vonage API-sleutel is een korte code van letters en cijfers.</translation>
    </message>
    <message>
        <source>The SMS account</source>
        <translation>De sms-account</translation>
    </message>
    <message>
        <source>Enter the sender of text messages: a number such as +32470123456 or a sender name of up to 11 letters and digits.</source>
        <translation>Vul de afzender van sms-berichten in: een nummer zoals +32470123456 of een afzendernaam van hoogstens 11 letters en cijfers.</translation>
    </message>
    <message>
        <source>The sender</source>
        <translation>De afzender</translation>
    </message>
    <message>
        <source>The outbox folder</source>
        <translation>De outboxmap</translation>
    </message>
    <message>
        <source>The outbox folder must be a full path, such as C:\pmdesk\outbox.</source>
        <translation>De outboxmap moet een volledig pad zijn, zoals C:\pmdesk\outbox.</translation>
    </message>
    <message>
        <source>Enter the mail server (SMTP host).</source>
        <translation>Vul de mailserver in (SMTP-host).</translation>
    </message>
    <message>
        <source>&apos;{host}&apos; is not a valid server name.</source>
        <translation>&apos;{host}&apos; is geen geldige servernaam.</translation>
    </message>
    <message>
        <source>Enter the sender address (From) for code mails.</source>
        <translation>Vul het afzenderadres (Van) in voor de e-mails met codes.</translation>
    </message>
    <message>
        <source>The sender address</source>
        <translation>Het afzenderadres</translation>
    </message>
    <message>
        <source>The sender name</source>
        <translation>De afzendernaam</translation>
    </message>
    <message>
        <source>The helpdesk mailbox</source>
        <translation>De helpdeskmailbox</translation>
    </message>
    <message>
        <source>The helpdesk name</source>
        <translation>De helpdesknaam</translation>
    </message>
    <message>
        <source>{label} must be on one line.</source>
        <translation>{label} moet op één regel staan.</translation>
    </message>
    <message>
        <source>{label}: enter one e-mail address only.</source>
        <translation>{label}: vul slechts één e-mailadres in.</translation>
    </message>
    <message>
        <source>{label}: &apos;{address}&apos; is not a valid e-mail address.</source>
        <translation>{label}: &apos;{address}&apos; is geen geldig e-mailadres.</translation>
    </message>
    <message>
        <source>{label}: {problem}</source>
        <translation>{label}: {problem}</translation>
    </message>
    <message>
        <source>{label} can have at most {count} characters.</source>
        <translation>{label} mag hoogstens {count} tekens bevatten.</translation>
    </message>
    <message>
        <source>Enter the SMS gateway URL (https://…).</source>
        <translation>Vul de URL van de sms-gateway in (https://…).</translation>
    </message>
    <message>
        <source>The SMS gateway URL must be one line of at most 500 characters.</source>
        <translation>De URL van de sms-gateway moet één regel van hoogstens 500 tekens zijn.</translation>
    </message>
    <message>
        <source>The SMS gateway URL is not a valid URL.</source>
        <translation>De URL van de sms-gateway is geen geldige URL.</translation>
    </message>
    <message>
        <source>The SMS gateway URL needs a server name (https://host/…).</source>
        <translation>De URL van de sms-gateway heeft een servernaam nodig (https://host/…).</translation>
    </message>
    <message>
        <source>Do not put a user name or password in the SMS gateway URL: the password belongs in the keyring.</source>
        <translation>Zet geen gebruikersnaam of wachtwoord in de URL van de sms-gateway: het wachtwoord hoort in de sleutelbos.</translation>
    </message>
    <message>
        <source>The SMS gateway must use https:// (http:// only to this machine).</source>
        <translation>De sms-gateway moet https:// gebruiken (http:// alleen naar deze computer).</translation>
    </message>
    <message>
        <source>The SMS gateway URL must start with https://.</source>
        <translation>De URL van de sms-gateway moet beginnen met https://.</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not a valid phone number.</source>
        <translation>&apos;{address}&apos; is geen geldig telefoonnummer.</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not a valid e-mail address.</source>
        <translation>&apos;{address}&apos; is geen geldig e-mailadres.</translation>
    </message>
    <message>
        <source>queued to the relay, which sends it: {how}; the Log shows mail.test_sent once it has gone</source>
        <translation>in de wachtrij van de relay gezet, die het verzendt: {how}; het Logboek toont mail.test_sent zodra het vertrokken is</translation>
    </message>
    <message>
        <source>A code is valid for</source>
        <translation>Een code is geldig gedurende</translation>
    </message>
    <message>
        <source>The length of a command-line session</source>
        <translation>De duur van een opdrachtregelsessie</translation>
    </message>
    <message>
        <source>hours</source>
        <translation>uur</translation>
    </message>
    <message>
        <source>Failures before a lock</source>
        <translation>Mislukte aanmeldingen vóór een blokkering</translation>
    </message>
    <message>
        <source>The first lock</source>
        <translation>De eerste blokkering</translation>
    </message>
    <message>
        <source>failures</source>
        <translation>mislukte aanmeldingen</translation>
    </message>
    <message>
        <source>The longest lock</source>
        <translation>De langste blokkering</translation>
    </message>
    <message>
        <source>The longest lock ({longest} min) cannot be shorter than the first ({first} min).</source>
        <translation>De langste blokkering ({longest} min) kan niet korter zijn dan de eerste ({first} min).</translation>
    </message>
    <message>
        <source>The security settings were changed on another workstation since you opened them. Reload to see the current values, then make your change again.</source>
        <translation>De beveiligingsinstellingen werden op een andere werkpost gewijzigd sinds u ze opende. Laad opnieuw om de huidige waarden te zien en breng dan uw wijziging opnieuw aan.</translation>
    </message>
</context>
<context>
    <name>server</name>
    <message>
        <source>Your user group may not {doing}.</source>
        <extracomment>Sentences only a hardened server says (pmdesk/core/server/*_sql.py), marked here so that they are in the catalogue: its refusals to write (``refuse_write``) and checks of its own.</extracomment>
        <translation>Uw gebruikersgroep mag niet {doing}.</translation>
    </message>
    <message>
        <source>add this person</source>
        <translation>deze persoon toevoegen</translation>
    </message>
    <message>
        <source>change System → Security</source>
        <translation>Systeem → Beveiliging wijzigen</translation>
    </message>
    <message>
        <source>change sign-in counters</source>
        <translation>aanmeldtellers wijzigen</translation>
    </message>
    <message>
        <source>change the log</source>
        <translation>het logboek wijzigen</translation>
    </message>
    <message>
        <source>change the office networks</source>
        <translation>de kantoornetwerken wijzigen</translation>
    </message>
    <message>
        <source>change this person</source>
        <translation>deze persoon wijzigen</translation>
    </message>
    <message>
        <source>change user groups or their rights</source>
        <translation>gebruikersgroepen of hun rechten wijzigen</translation>
    </message>
    <message>
        <source>delete this person</source>
        <translation>deze persoon verwijderen</translation>
    </message>
    <message>
        <source>put back the trusted addresses of this person</source>
        <translation>de vertrouwde adressen van deze persoon terugzetten</translation>
    </message>
    <message>
        <source>put back trusted addresses</source>
        <translation>vertrouwde adressen terugzetten</translation>
    </message>
    <message>
        <source>record deliveries</source>
        <translation>verzendingen registreren</translation>
    </message>
    <message>
        <source>remove this trusted address</source>
        <translation>dit vertrouwde adres verwijderen</translation>
    </message>
    <message>
        <source>trust an address for this person</source>
        <translation>een adres vertrouwen voor deze persoon</translation>
    </message>
    <message>
        <source>Your user group may not read System → Security.</source>
        <translation>Uw gebruikersgroep mag Systeem → Beveiliging niet bekijken.</translation>
    </message>
    <message>
        <source>Your user group may not issue or cancel helpdesk codes.</source>
        <translation>Uw gebruikersgroep mag geen helpdeskcodes aanmaken of annuleren.</translation>
    </message>
    <message>
        <source>The helpdesk mailbox must be one e-mail address.</source>
        <translation>De helpdeskmailbox moet één e-mailadres zijn.</translation>
    </message>
    <message>
        <source>The reason can have at most {count} characters, and no control characters.</source>
        <translation>De reden mag hoogstens {count} tekens bevatten, en geen stuurtekens.</translation>
    </message>
</context>
<context>
    <name>sessions</name>
    <message>
        <source>Desktop app</source>
        <translation>Desktop-app</translation>
    </message>
    <message>
        <source>Command line</source>
        <translation>Opdrachtregel</translation>
    </message>
    <message>
        <source>You are not signed in.</source>
        <translation>U bent niet aangemeld.</translation>
    </message>
    <message>
        <source>Your session was ended (signed out, or ended by an administrator).</source>
        <translation>Uw sessie werd beëindigd (afgemeld, of beëindigd door een beheerder).</translation>
    </message>
    <message>
        <source>Your session has expired.</source>
        <translation>Uw sessie is verlopen.</translation>
    </message>
    <message>
        <source>Your session was started from another address.</source>
        <translation>Uw sessie werd vanaf een ander adres gestart.</translation>
    </message>
    <message>
        <source>Your account is locked.</source>
        <translation>Uw account is geblokkeerd.</translation>
    </message>
    <message>
        <source>Your account no longer exists or can no longer sign in.</source>
        <translation>Uw account bestaat niet meer of kan zich niet meer aanmelden.</translation>
    </message>
    <message>
        <source>Your password was changed since you signed in.</source>
        <translation>Uw wachtwoord werd gewijzigd sinds u zich aanmeldde.</translation>
    </message>
    <message>
        <source>This person no longer exists.</source>
        <translation>Deze persoon bestaat niet meer.</translation>
    </message>
    <message>
        <source>end this person&apos;s sessions</source>
        <translation>de sessies van deze persoon beëindigen</translation>
    </message>
</context>
<context>
    <name>startup</name>
    <message>
        <source>This database needs a newer pmdesk</source>
        <translation>Deze databank vraagt een nieuwere pmdesk</translation>
    </message>
    <message>
        <source>Nothing was changed. Install the newest pmdesk on this workstation (ask whoever upgraded the other workstations), then start it again.</source>
        <translation>Er is niets gewijzigd. Installeer de nieuwste pmdesk op deze werkpost (vraag het aan wie de andere werkposten heeft bijgewerkt) en start hem dan opnieuw.</translation>
    </message>
    <message>
        <source>No system keyring</source>
        <translation>Geen systeemsleutelhanger</translation>
    </message>
    <message>
        <source>pmdesk needs the system keyring to read the database password.</source>
        <translation>pmdesk heeft de sleutelhanger van het systeem nodig om het wachtwoord van de databank te lezen.</translation>
    </message>
    <message>
        <source>Install or unlock the system keyring (Windows Credential Manager, macOS Keychain, or GNOME Keyring / KWallet on Linux), then start pmdesk again.</source>
        <translation>Installeer of ontgrendel de sleutelhanger van het systeem (Windows Credential Manager, macOS-sleutelhanger of GNOME Keyring / KWallet onder Linux) en start pmdesk dan opnieuw.</translation>
    </message>
    <message>
        <source>Cannot open the database</source>
        <translation>De databank kan niet worden geopend</translation>
    </message>
    <message>
        <source>Check that the database server is running and reachable from this workstation (network, VPN, firewall), and that the database address is right: it comes from PMDESK_DATABASE_URL or the settings file {path}. Then start pmdesk again.</source>
        <translation>Controleer of de databankserver draait en bereikbaar is vanaf deze werkpost (netwerk, VPN, firewall) en of het adres van de databank juist is: het komt uit PMDESK_DATABASE_URL of uit het instellingenbestand {path}. Start pmdesk daarna opnieuw.</translation>
    </message>
    <message>
        <source>The database address is not valid</source>
        <translation>Het adres van de databank is niet geldig</translation>
    </message>
    <message>
        <source>Correct it in PMDESK_DATABASE_URL or the settings file {path}.</source>
        <translation>Verbeter het in PMDESK_DATABASE_URL of in het instellingenbestand {path}.</translation>
    </message>
    <message>
        <source>The settings file cannot be read</source>
        <translation>Het instellingenbestand kan niet worden gelezen</translation>
    </message>
    <message>
        <source>Correct or remove the file, then start pmdesk again.</source>
        <translation>Verbeter of verwijder het bestand en start pmdesk dan opnieuw.</translation>
    </message>
    <message>
        <source>pmdesk could not start</source>
        <translation>pmdesk kon niet starten</translation>
    </message>
    <message>
        <source>The details were written to the log file {path}. Send it to your support contact.</source>
        <translation>De details staan in het logbestand {path}. Bezorg het aan uw contactpersoon voor ondersteuning.</translation>
    </message>
</context>
<context>
    <name>trusted_ip_review</name>
    <message>
        <source>Public address</source>
        <extracomment>A trust younger than this is not &quot;never used&quot; yet.</extracomment>
        <translation>Openbaar adres</translation>
    </message>
    <message>
        <source>Never used</source>
        <translation>Nooit gebruikt</translation>
    </message>
    <message>
        <source>Shared by {count} people</source>
        <translation>Gedeeld door {count} personen</translation>
    </message>
</context>
<context>
    <name>trusted_ips</name>
    <message>
        <source>Viewing items {first}-{last} of {total}</source>
        <extracomment>How long a removal from the list can be undone (``TrustedIpService.restore``). Set for its own transaction by ``remove`` on a server-enforced PostgreSQL: the server then keeps what was removed for Undo (server/review_sql.py).</extracomment>
        <translation>Items {first}-{last} van {total}</translation>
    </message>
    <message>
        <source>Viewing items {first}-{last} of more than {total}</source>
        <translation>Items {first}-{last} van meer dan {total}</translation>
    </message>
    <message>
        <source>The database server cannot see this workstation&apos;s address (a local socket connection, the same for everyone connecting that way), so it is never trusted.</source>
        <translation>De databankserver ziet het adres van deze werkpost niet (een lokale socketverbinding, dezelfde voor iedereen die zo verbindt), dus wordt het nooit vertrouwd.</translation>
    </message>
    <message>
        <source>This workstation&apos;s address is unknown, so it cannot be trusted.</source>
        <translation>Het adres van deze werkpost is onbekend, dus kan het niet worden vertrouwd.</translation>
    </message>
    <message>
        <source>{address} is on the list of addresses never trusted (a proxy or connection pooler, System → Security), so it is never trusted.</source>
        <translation>{address} staat op de lijst van nooit vertrouwde adressen (een proxy of connection pooler, Systeem → Beveiliging), dus wordt het nooit vertrouwd.</translation>
    </message>
    <message>
        <source>{address} is a loopback address, shared by everyone who reaches the database through this computer (localhost, an SSH tunnel or a connection pooler), so it is never trusted on a shared database.</source>
        <translation>{address} is een loopbackadres, gedeeld door iedereen die de databank via deze computer bereikt (localhost, een SSH-tunnel of een connection pooler), dus wordt het op een gedeelde databank nooit vertrouwd.</translation>
    </message>
    <message>
        <source>{address} is a link-local address, not unique to this workstation, so it is never trusted on a shared database.</source>
        <translation>{address} is een link-local adres, niet uniek voor deze werkpost, dus wordt het op een gedeelde databank nooit vertrouwd.</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not an IP address (192.0.2.10).</source>
        <extracomment>A removed row as DELETE … RETURNING gives it: id, person, address, created, last used, and who trusted it on which workstation.</extracomment>
        <translation>&apos;{address}&apos; is geen IP-adres (192.0.2.10).</translation>
    </message>
    <message>
        <source>Only the person who removed addresses can put them back.</source>
        <translation>Alleen wie de adressen verwijderde, kan ze terugzetten.</translation>
    </message>
    <message>
        <source>put back the trusted addresses of this person</source>
        <translation>de vertrouwde adressen van deze persoon terugzetten</translation>
    </message>
    <message>
        <source>remove this person&apos;s trusted addresses</source>
        <translation>de vertrouwde adressen van deze persoon verwijderen</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not an IP address such as 192.0.2.10.</source>
        <translation>&apos;{address}&apos; is geen IP-adres zoals 192.0.2.10.</translation>
    </message>
    <message>
        <source>This person no longer exists (another workstation deleted it).</source>
        <translation>Deze persoon bestaat niet meer (een andere werkpost heeft hem verwijderd).</translation>
    </message>
    <message>
        <source>trust an address for this person</source>
        <translation>een adres vertrouwen voor deze persoon</translation>
    </message>
    <message>
        <source>remove the trusted addresses of {person}</source>
        <translation>de vertrouwde adressen van {person} verwijderen</translation>
    </message>
    <message>
        <source>{refusal} Nothing was removed.</source>
        <translation>{refusal} Er is niets verwijderd.</translation>
    </message>
</context>
<context>
    <name>validation</name>
    <message>
        <source>Phone</source>
        <extracomment>The default field names of the messages (a caller passes its own field&apos;s name).</extracomment>
        <translation>Telefoon</translation>
    </message>
    <message>
        <source>Hourly Cost</source>
        <translation>Uurkost</translation>
    </message>
    <message>
        <source>{label} cannot contain control or invisible characters.</source>
        <translation>{label} mag geen stuurtekens of onzichtbare tekens bevatten.</translation>
    </message>
    <message>
        <source>{label} is required.</source>
        <translation>{label} is verplicht.</translation>
    </message>
    <message>
        <source>{label} can have at most {count} characters.</source>
        <translation>{label} mag hoogstens {count} tekens bevatten.</translation>
    </message>
    <message>
        <source>Login is required.</source>
        <translation>De gebruikersnaam is verplicht.</translation>
    </message>
    <message>
        <source>Login may use letters, digits and . _ @ - (at most 64, starting with a letter or digit).</source>
        <translation>De gebruikersnaam mag letters, cijfers en . _ @ - bevatten (hoogstens 64, beginnend met een letter of cijfer).</translation>
    </message>
    <message>
        <source>Email is required.</source>
        <translation>Het e-mailadres is verplicht.</translation>
    </message>
    <message>
        <source>&apos;{address}&apos; is not a valid e-mail address.</source>
        <translation>&apos;{address}&apos; is geen geldig e-mailadres.</translation>
    </message>
    <message>
        <source>{label}: use digits, spaces and + ( ) . / - only.</source>
        <translation>{label}: gebruik alleen cijfers, spaties en + ( ) . / -.</translation>
    </message>
    <message>
        <source>{label}: &apos;{number}&apos; is not a valid phone number (check the digits and the country code).</source>
        <translation>{label}: &apos;{number}&apos; is geen geldig telefoonnummer (controleer de cijfers en de landcode).</translation>
    </message>
    <message>
        <source>{label} must be between 0 and {maximum}.</source>
        <translation>{label} moet tussen 0 en {maximum} liggen.</translation>
    </message>
    <message>
        <source>{label} can have at most two decimals.</source>
        <translation>{label} mag hoogstens twee decimalen hebben.</translation>
    </message>
    <message>
        <source>{label} must be an amount such as 42.50.</source>
        <translation>{label} moet een bedrag zijn, zoals 42,50.</translation>
    </message>
</context>
<context>
    <name>widgets</name>
    <message>
        <source>Cancel</source>
        <translation>Annuleren</translation>
    </message>
    <message>
        <source>Unsaved changes</source>
        <translation>Niet-opgeslagen wijzigingen</translation>
    </message>
    <message>
        <source>Discard changes</source>
        <translation>Wijzigingen verwerpen</translation>
    </message>
    <message>
        <source>Keep editing</source>
        <translation>Verder bewerken</translation>
    </message>
</context>
</TS>
