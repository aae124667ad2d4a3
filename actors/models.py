"""Actors (aktörer): organisations, the people who work in them, and their roles."""

import re

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """Anyone who logs in: staff, patients and relatives. Identified by e-mail.

    `is_staff` keeps Django's meaning (may use the admin); being care staff is
    having a Membership in an organisation.
    """

    username = None
    email = models.EmailField(_("e-mail address"), unique=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    # Who the person is by e-legitimation (actors.oidc): a citizen's personnummer (set for
    # relatives, and for patients' logins where known; a patient is also found through
    # Patient.identity_number), and a staff member's personal HSA-id (SITHS card).
    personal_identity_number = models.CharField(
        _("personal identity number"), max_length=12, unique=True, null=True, blank=True
    )
    hsa_id = models.CharField(_("HSA-id"), max_length=40, unique=True, null=True, blank=True)
    # When the person's details last changed: the FHIR Practitioner's meta.lastUpdated
    # and version (fhir_r4.versions). A login's last_login is saved alone and leaves it.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.get_full_name() or self.email

    def save(self, *args, **kwargs):
        # Blank in a form means none: the unique identity columns hold NULL, never "".
        self.personal_identity_number = self.personal_identity_number or None
        self.hsa_id = self.hsa_id or None
        super().save(*args, **kwargs)


class OrganisationKind(models.TextChoices):
    REGION = "region", _("Region")
    MUNICIPALITY = "municipality", _("Municipality")
    PRIMARY_CARE = "primary_care", _("Primary care (vårdcentral)")
    HOSPITAL_UNIT = "hospital_unit", _("Hospital unit")
    HOME_HEALTH_CARE = "home_health_care", _("Home health care (hemsjukvård)")
    HOME_CARE_SERVICE = "home_care_service", _("Home care service (hemtjänst)")
    OTHER = "other", _("Other")


PRINCIPAL_KINDS = {OrganisationKind.REGION, OrganisationKind.MUNICIPALITY}

# HSA-id: the county prefix, 'E' or 'F', the organisation number and a local part.
HSA_ID_RE = re.compile(r"^SE[0-9]{10}-[0-9A-Za-z]{1,20}$", re.ASCII)


class OrganisationQuerySet(models.QuerySet):
    def principals(self):
        return self.filter(kind__in=PRINCIPAL_KINDS)

    def administered_by(self, user):
        """The organisations `user` is an active organisation administrator of, and the
        units under a region or municipality they administer."""
        ids = Membership.objects.active().filter(user=user, role=Role.ORG_ADMIN)
        ids = ids.values("organisation")
        return self.filter(Q(pk__in=ids) | Q(principal__in=ids))


class Organisation(models.Model):
    """An actor (aktör). Regions and municipalities are principals (huvudmän);
    every other organisation sits in the tree under exactly one principal."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, choices=OrganisationKind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("part of"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    # Denormalised from the tree so that access checks are a plain join.
    principal = models.ForeignKey(
        "self",
        verbose_name=_("principal (huvudman)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    hsa_id = models.CharField(_("HSA-id"), max_length=40, unique=True, null=True, blank=True)
    county_code = models.CharField(_("county code (länskod)"), max_length=2, blank=True)
    municipality_code = models.CharField(
        _("municipality code (kommunkod)"), max_length=4, blank=True
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The FHIR Organization's meta.lastUpdated and version (fhir_r4.versions).
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="region_has_county_code",
                condition=~Q(kind="region") | Q(county_code__regex=r"^[0-9]{2}$"),
            ),
            models.CheckConstraint(
                name="municipality_has_code",
                condition=~Q(kind="municipality") | Q(municipality_code__regex=r"^[0-9]{4}$"),
            ),
            models.UniqueConstraint(
                fields=["county_code"], condition=Q(kind="region"), name="one_region_per_county"
            ),
            models.UniqueConstraint(
                fields=["municipality_code"],
                condition=Q(kind="municipality"),
                name="one_municipality_per_code",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_principal(self) -> bool:
        return self.kind in PRINCIPAL_KINDS

    def clean(self):
        errors = {}
        if self.kind == OrganisationKind.REGION and not re.fullmatch(
            r"[0-9]{2}", self.county_code or ""
        ):
            errors["county_code"] = _("A region needs its two-digit county code.")
        if self.kind == OrganisationKind.MUNICIPALITY:
            if not re.fullmatch(r"[0-9]{4}", self.municipality_code or ""):
                errors["municipality_code"] = _("A municipality needs its four-digit code.")
            elif self.county_code and not self.municipality_code.startswith(self.county_code):
                errors["municipality_code"] = _(
                    "A municipality code starts with the code of its county."
                )
        if self.is_principal and self.parent_id:
            errors["parent"] = _("A region or municipality is a principal and has no parent.")
        if not self.is_principal and not self.parent_id:
            errors["parent"] = _("Choose the region or municipality this organisation belongs to.")
        if self.hsa_id and not HSA_ID_RE.match(self.hsa_id):
            errors["hsa_id"] = _("An HSA-id looks like SE2321000032-abc123.")
        if self.pk and self.parent_id:
            node = self.parent
            while node is not None:
                if node.pk == self.pk:
                    errors["parent"] = _("An organisation cannot be part of itself.")
                    break
                node = node.parent
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if self.hsa_id == "":
            self.hsa_id = None
        self.principal = self._find_principal()
        super().save(*args, **kwargs)
        if self.is_principal and self.principal_id != self.pk:
            # A new principal is its own principal; the id exists only after insert.
            self.principal_id = self.pk
            type(self).objects.filter(pk=self.pk).update(principal=self.pk)

    def _find_principal(self):
        if self.is_principal:
            # A new principal has no pk yet; it is set to itself right after insert.
            return self if self.pk else None
        node = self.parent
        while node is not None and not node.is_principal:
            node = node.parent
        return node


class Role(models.TextChoices):
    CLINICIAN = "clinician", _("Clinician")
    HOME_CARE = "home_care", _("Home care staff")
    COORDINATOR = "coordinator", _("Coordinator")
    ORG_ADMIN = "org_admin", _("Organisation administrator")


class MembershipQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)


class Membership(models.Model):
    """A staff member's role in one organisation. A user may have several."""

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    title = models.CharField(_("title"), max_length=100, blank=True)
    phone = models.CharField(_("work phone"), max_length=32, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The FHIR PractitionerRole's meta.lastUpdated and version (fhir_r4.versions).
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"], name="unique_membership_role"
            )
        ]

    def __str__(self):
        return f"{self.user} – {self.get_role_display()}, {self.organisation}"


class ApiClient(models.Model):
    """An integration (API client) that one organisation runs against the REST and FHIR API.

    It signs in with OAuth2 client credentials through its own `oauth2_provider`
    Application and sees exactly what the organisation's staff see."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="api_clients",
    )
    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL,
        verbose_name=_("OAuth2 application"),
        on_delete=models.CASCADE,
        related_name="api_client",
    )
    active = models.BooleanField(_("active"), default=True)
    # May ask for the `introspection` scope and check its own organisation's tokens
    # (naravard.oauth). Granted only by an operator (manage.py allow_introspection).
    may_introspect = models.BooleanField(_("may check tokens (introspection)"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.organisation})"


class LoginCode(models.Model):
    """A one-time code sent by e-mail to log in. Only its hash is stored;
    it expires, is used once, and is burned after too many wrong tries."""

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="login_codes"
    )
    code_hash = models.CharField(_("code hash"), max_length=128)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("login code")
        verbose_name_plural = _("login codes")
        indexes = [models.Index(fields=["user", "-created_at"], name="logincode_user_recent")]

    def __str__(self):
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"


class LoginAttemptCount(models.Model):
    """A login counter (actors.limits): failed logins of one account (its e-mail, hashed)
    or from one address, or requests for a code, and until when further tries wait.

    Kept in PostgreSQL, not in the cache: a limit that switched off whenever Redis was
    slow or down would be open exactly when someone takes Redis down."""

    key = models.CharField(_("key"), max_length=120, primary_key=True)
    count = models.PositiveIntegerField(_("attempts"))
    # When the count is forgotten (the end of a fixed window, or a day after an
    # account's last failure).
    window_ends = models.DateTimeField(_("window ends"))
    blocked_until = models.DateTimeField(_("blocked until"), null=True, blank=True)

    class Meta:
        verbose_name = _("login attempt count")
        verbose_name_plural = _("login attempt counts")
        indexes = [models.Index(fields=["window_ends"], name="loginattempt_window_ends")]

    def __str__(self):
        return f"{self.key}: {self.count}"
