//! The audit's words: every kind of event Rackstate records (the `events` table's
//! `kind`), in one place.

words! {
    /// What an audit event records.
    EventKind, "event kind" {
        /// A server was added to the fleet.
        Added => "added",
        /// A server moved through the lifecycle table (from, to, reason).
        StateChanged => "state_changed",
        /// An admin revealed a server's BMC password.
        CredentialsRevealed => "credentials_revealed",
        /// Decommissioning forgot the BMC password.
        CredentialsForgotten => "credentials_forgotten",
        /// The BMC address or credentials were changed.
        BmcChanged => "bmc_changed",
        /// Someone asked for a new BMC password (the rotation job carries it out).
        BmcRotationRequested => "bmc_rotation_requested",
        /// The BMC took a new password, it worked, and it replaced the stored one.
        BmcPasswordRotated => "bmc_password_rotated",
        /// The first BMC TLS certificate was pinned.
        BmcCertificatePinned => "bmc_certificate_pinned",
        /// The BMC presented another certificate (offered, not trusted).
        BmcCertificateChanged => "bmc_certificate_changed",
        /// An admin accepted the offered certificate.
        BmcCertificateAccepted => "bmc_certificate_accepted",
        /// Registration recorded the hardware (with the differences, if any).
        Inventory => "inventory",
        /// The server's type changed with its hardware.
        TypeChanged => "type_changed",
        /// Someone acknowledged the hardware changes a registration found (comment,
        /// and the changes they saw).
        HardwareAcknowledged => "hardware_acknowledged",
        /// An admin set a server type's firmware baseline (the type; the baseline).
        FirmwareBaselineSet => "firmware_baseline_set",
        /// The BMC or agent reached was not the recorded machine: nothing was done.
        IdentityMismatch => "identity_mismatch",
        /// The server's notes were edited.
        NotesEdited => "notes_edited",
        /// A reservation ended with its subscription.
        ReservationEnded => "reservation_ended",
        /// A failed job was run again.
        JobRetried => "job_retried",
        /// A job ended (its kind; succeeded, failed or aborted; its error).
        JobFinished => "job_finished",
        /// A running job was aborted.
        JobAborted => "job_aborted",
        /// An image was (re-)deployed to a used server.
        DeployRequested => "deploy_requested",
        /// The server's root-disk hint was set.
        RootDiskSet => "root_disk_set",
        /// Someone asked for power on, off or reset.
        PowerRequested => "power_requested",
        /// An image was added to the catalog.
        ImageAdded => "image_added",
        /// An image was retired from the catalog.
        ImageRetired => "image_retired",
        /// An account was created.
        UserCreated => "user_created",
        /// An account's role changed.
        RoleChanged => "role_changed",
        /// An account's password changed.
        PasswordChanged => "password_changed",
        /// An account was disabled.
        UserDisabled => "user_disabled",
        /// A disabled account was enabled again.
        UserEnabled => "user_enabled",
        /// Someone revoked one API token.
        ApiTokenRevoked => "api_token_revoked",
        /// All of an account's API tokens were revoked (password change, disabling).
        ApiTokensRevoked => "api_tokens_revoked",
        /// An admin added a webhook (its URL and topics).
        WebhookAdded => "webhook_added",
        /// An admin enabled, disabled or changed a webhook.
        WebhookChanged => "webhook_changed",
        /// An admin removed a webhook.
        WebhookRemoved => "webhook_removed",
    }
}
